"""Built-in name lists for the synthetic data set (fake names, combined deterministically).

The lists mix plain ASCII names with accented and apostrophised ones so that the linkage
normalisation (accents, apostrophes, hyphens, case) is exercised by the demo data. They are
kept as comma-separated text so they stay compact; a name may contain spaces.
"""

from __future__ import annotations


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


MALE_FORENAMES = _names(
    """
James, John, Robert, Michael, David, William, Richard, Joseph, Thomas, Charles, Daniel,
Matthew, Anthony, Mark, Paul, Steven, Andrew, Kevin, Brian, George, Edward, Ronald, Timothy,
Jason, Jeffrey, Ryan, Jacob, Gary, Nicholas, Eric, Jonathan, Stephen, Larry, Justin, Scott,
Brandon, Benjamin, Samuel, Gregory, Frank, Alexander, Patrick, Jack, Dennis, Jerry, Tyler,
Aaron, José, Adam, Henry, Nathan, Douglas, Zachary, Peter, Kyle, Walter, Ethan, Jeremy,
Harold, Keith, Christian, Roger, Noah, Gerald, Carl, Terry, Sean, Austin, Arthur, Lawrence,
Jesse, Dylan, Bryan, Joe, Jordan, Billy, Bruce, Albert, Willie, Gabriel, Logan, Alan, Juan,
Wayne, Roy, Ralph, Randy, Eugene, Vincent, Russell, Elijah, Louis, Bobby, Philip, Johnny,
Søren, Łukasz, Seán, Darragh, Oisín, Mohammed, Ali
"""
)
FEMALE_FORENAMES = _names(
    """
Mary, Patricia, Jennifer, Linda, Elizabeth, Barbara, Susan, Jessica, Sarah, Karen, Lisa,
Nancy, Betty, Margaret, Sandra, Ashley, Kimberly, Emily, Donna, Michelle, Carol, Amanda,
Dorothy, Melissa, Deborah, Stephanie, Rebecca, Sharon, Laura, Cynthia, Kathleen, Amy,
Angela, Shirley, Anna, Brenda, Pamela, Emma, Nicole, Helen, Samantha, Katherine, Christine,
Debra, Rachel, Carolyn, Janet, Catherine, Maria, Heather, Diane, Ruth, Julie, Olivia, Joyce,
Virginia, Victoria, Kelly, Lauren, Christina, Joan, Evelyn, Judith, Megan, Andrea, Cheryl,
Hannah, Jacqueline, Martha, Gloria, Teresa, Ann, Sara, Madison, Frances, Kathryn, Janice,
Jean, Abigail, Alice, Judy, Sophia, Grace, Denise, Amber, Doris, Marilyn, Danielle, Beverly,
Isabella, Zoë, Siobhán, Chloé, Renée, Aoife
"""
)
SURNAMES = _names(
    """
Smith, Jones, Williams, Taylor, Brown, Davies, Evans, Wilson, Thomas, Johnson, Roberts,
Robinson, Thompson, Wright, Walker, White, Edwards, Hughes, Green, Hall, Lewis, Harris,
Clarke, Patel, Jackson, Wood, Turner, Martin, Cooper, Hill, Ward, Morris, Moore, Clark, Lee,
King, Baker, Harrison, Morgan, Allen, James, Scott, Phillips, Watson, Davis, Parker, Price,
Bennett, Young, Griffiths, Mitchell, Kelly, Cook, Carter, Richardson, Bailey, Collins, Bell,
Shaw, Murphy, Miller, Cox, Richards, Khan, Marshall, Anderson, Simpson, Ellis, Adams, Singh,
Begum, Wilkinson, Foster, Chapman, Powell, Webb, Rogers, Gray, Mason, Ali, Hunt, Hussain,
Campbell, Matthews, Owen, Palmer, Holmes, Mills, Barnes, Knight, Lloyd, Butler, Russell,
Barker, Fisher, Stevens, Jenkins, Murray, Dixon, Harvey, O'Brien, O'Neill, Núñez, García,
Müller, Ó Súilleabháin, Kowalski, Nowak, Smith-Jones, Fitzgerald, MacDonald, McCarthy,
D'Souza, Łęcki, Andersen, Nørgaard, Björk, Dubois, Lefèvre, Rossi, Esposito, Novák, Horváth,
Yılmaz, Okafor, Adeyemi, Mensah, Nguyen, Chen, Wang, Zhang, Kim, Park, Sato
"""  # noqa: RUF001 (the dotless i of a Turkish surname is intended)
)
