"""Operating pages with the keyboard alone, as someone who cannot use a mouse would.

`tab_to` presses Tab from the top of the page until the element has the focus, which proves
it is reachable in the tab order; fields are then typed into, boxes toggled with Space,
options chosen with the arrow keys, and forms sent with Enter.
"""

from __future__ import annotations

from typing import Any

MAX_TABS = 400


def tab_to(page: Any, selector: str) -> None:
    element = page.locator(selector).first.element_handle()
    assert element is not None, f"no element matches {selector}"
    page.evaluate(
        "() => { document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0); }"
    )
    page.focus("body")
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        if page.evaluate("(el) => document.activeElement === el", element):
            return
    raise AssertionError(f"{selector} cannot be reached with the Tab key")


def type_into(page: Any, selector: str, text: str) -> None:
    tab_to(page, selector)
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.type(text)


def type_date(page: Any, selector: str, iso_date: str) -> None:
    """Chromium's date field takes the digits in the page locale's order (en-US: m/d/y)."""
    year, month, day = iso_date.split("-")
    tab_to(page, selector)
    page.keyboard.type(f"{month}{day}{year}")


def toggle(page: Any, selector: str) -> None:
    tab_to(page, selector)
    page.keyboard.press("Space")


def set_checked(page: Any, selector: str, checked: bool) -> None:
    if page.locator(selector).first.is_checked() != checked:
        toggle(page, selector)


def choose(page: Any, selector: str, label: str) -> None:
    """Pick the option whose text starts with `label`, moving with the arrow keys."""
    tab_to(page, selector)
    options: list[str] = page.locator(f"{selector} option").all_inner_texts()
    target = next(i for i, text in enumerate(options) if text.strip().startswith(label))
    current: int = page.eval_on_selector(selector, "el => el.selectedIndex")
    key = "ArrowDown" if target > current else "ArrowUp"
    for _ in range(abs(target - current)):
        page.keyboard.press(key)
    assert page.eval_on_selector(selector, "el => el.selectedIndex") == target


def press(page: Any, selector: str, key: str = "Enter") -> None:
    """Activate a button or link from the keyboard, waiting for any navigation."""
    tab_to(page, selector)
    with page.expect_navigation():
        page.keyboard.press(key)


def log_in(page: Any, base: str, email: str, password: str) -> None:
    page.goto(f"{base}/login")
    type_into(page, "#email", email)
    type_into(page, "#password", password)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "/login" not in page.url, f"{email} could not log in"


def log_out(page: Any) -> None:
    press(page, "form.logout button")
