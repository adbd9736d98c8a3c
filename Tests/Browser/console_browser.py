#!/usr/bin/env python3
"""Drives the GridHub console in headless Chromium (Selenium + chromedriver) as a command-centre
operator would, and asserts what the operator sees. Run by ConsoleBrowserTests with:

    console_browser.py BASE_URL CITY_USER PASSWORD TOWN_USER PASSWORD DISPATCHED_CASE TRIAGE_CASE RECORD_ID GRID_CODE SCREENSHOT_DIR APART_CASE

Exits 0 when every check passed; otherwise prints the failed check and exits 1.
"""
import os
import re
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

base, city_user, city_password, town_user, town_password, dispatched, triage, record_id, grid, shots, apart = sys.argv[1:12]


def check(condition, message):
    if not condition:
        print("FAILED: " + message)
        driver.save_screenshot(os.path.join(shots, "failure.png"))
        driver.quit()
        sys.exit(1)
    print("ok: " + message)


def wait_for(predicate, message, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if predicate():
                print("ok: " + message)
                return
        except Exception:
            pass
        time.sleep(0.25)
    check(False, message + f" (within {timeout} s)")


def login(user, password):
    driver.get(base + "/login")
    form = driver.find_element(By.ID, "login")
    driver.find_element(By.ID, "user").send_keys(user)
    driver.find_element(By.ID, "password").send_keys(password)
    form.click()
    # The password check takes a moment (PBKDF2): wait for the next page.
    wait_for(lambda: "wrong user or password" in driver.page_source or driver.find_elements(By.CSS_SELECTOR, "header .who"),
             f"the login of {user} is answered")


options = Options()
for argument in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000"]:
    options.add_argument(argument)
chromium = next((p for p in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] if os.path.exists(p)), None)
if chromium:
    options.binary_location = chromium
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
driver.set_page_load_timeout(60)

# Nothing without a login; a wrong password is refused.
driver.get(base + "/")
check(driver.current_url.endswith("/login"), "an anonymous visitor is sent to the login page")
login(city_user, "not-the-password")
check("wrong user or password" in driver.page_source, "a wrong password is refused")

# The city operator: the map of every grid, coloured.
login(city_user, city_password)
wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#grid-map path")) == 1558, "the map draws all 1558 grids")
wait_for(lambda: driver.find_element(By.ID, "g" + grid).get_attribute("class") == "overdue",
         "the grid of the overdue case is coloured overdue")
coloured = driver.execute_script(
    "return Array.from(document.querySelectorAll('#grid-map path')).filter(p => getComputedStyle(p).fill === 'rgb(217, 71, 59)').length")
check(coloured >= 1, f"the overdue grid is painted red ({coloured} red)")
check(len(driver.find_elements(By.CSS_SELECTOR, "a[href*='department=urban-mgmt']")) >= 1, "the queues list the urban management department")
check(len(driver.find_elements(By.CSS_SELECTOR, "a[href*='department=command-center']")) >= 1, "the queues list the command centre's triage")
driver.save_screenshot(os.path.join(shots, "overview.png"))
# The overview fits the window, down to a small laptop's: a wide table scrolls inside its own panel.
for width in [1400, 1024]:
    driver.set_window_size(width, 1000)
    driver.get(base + "/")
    wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#grid-map path")) == 1558, "the map draws all 1558 grids")
    widths = driver.execute_script("return [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    check(widths[0] <= widths[1], f"at {width} px the overview needs no sideways scrolling (content {widths[0]} px, window {widths[1]} px)")
driver.set_window_size(1400, 1000)

# The overdue case: its report, its timeline; supervise it and watch the page update without a reload.
driver.get(base + "/cases?overdue=1")
check(dispatched[:12] in driver.page_source, "the overdue list shows the dispatched case")
driver.get(base + "/cases/" + dispatched)
wait_for(lambda: record_id in driver.find_element(By.ID, "reports").text, "the case page shows its merged report")
wait_for(lambda: "overdue" in driver.find_element(By.ID, "live").text, "the case page says it is overdue")
wait_for(lambda: "dispatch" in driver.find_element(By.ID, "timeline").text, "the timeline shows the dispatch")
driver.find_element(By.ID, "supervise-message").send_keys("请今日办结")
driver.find_element(By.ID, "supervise").click()
wait_for(lambda: "applied" in driver.find_element(By.ID, "outcome").text, "the supervision is applied by the router")
wait_for(lambda: "supervise" in driver.find_element(By.ID, "timeline").text, "the timeline shows the supervision")
driver.save_screenshot(os.path.join(shots, "case.png"))

# Another problem at the same door: its case says which case it was kept apart from, and why.
driver.get(base + "/cases/" + apart)
wait_for(lambda: dispatched in driver.find_element(By.ID, "kept-apart").text and "otherItem" in driver.find_element(By.ID, "kept-apart").text,
         "the neighbouring problem's case shows the case it was kept apart from and why")
driver.save_screenshot(os.path.join(shots, "kept-apart.png"))

# The case nobody could route: assign it to the environment department.
driver.get(base + "/cases/" + triage)
# (The page updates itself: an element read right after loading may be replaced under the reader.)
wait_for(lambda: any(w in driver.find_element(By.ID, "department").text for w in ("command", "指挥")),
         "the unroutable case is held by the command centre")
# Its order named the gate of an estate: the page says how far the spot may be from the point.
wait_for(lambda: "an area: the spot may be up to 150 m from the point" in driver.find_element(By.ID, "placed").text,
         "the case page says its place is an area and how wide")
Select(driver.find_element(By.ID, "assign-department")).select_by_value("env")
# Sent from the page without leaving it, so that what follows shows the page updating by itself.
sent = driver.execute_async_script("""
    const done = arguments[arguments.length - 1];
    window.__same_page = 'yes';
    const form = document.getElementById('assign').form;
    fetch(form.action, {method: 'POST', body: new URLSearchParams(new FormData(form)), credentials: 'same-origin'})
        .then(r => done(r.status + ' ' + r.url), e => done('error ' + e));""")
check(sent.startswith("200") and "sent=" in sent, "the assignment is sent (" + sent + ")")
wait_for(lambda: "生态环境" in driver.find_element(By.ID, "department").text, "the case now shows the environment department")
check(driver.execute_script("return window.__same_page") == "yes", "the page updated without a reload")
wait_for(lambda: "(command)" in driver.find_element(By.ID, "timeline").text, "the timeline shows the command that moved it")

# A refused command says why.
driver.find_element(By.ID, "assign").click()
wait_for(lambda: "refused" in driver.find_element(By.ID, "outcome").text, "assigning a case a department works on is refused, with the reason")

# The assessment and the dead letters.
driver.get(base + "/stats")
check("响应率" in driver.page_source and ("urban-mgmt" in driver.page_source or "城市综合管理" in driver.page_source), "the assessment table is shown")
driver.get(base + "/deadletters")
check(len(driver.find_elements(By.ID, "deadletters")) == 1, "the dead letters page lists them")
wait_for(lambda: "XML not well-formed" in driver.find_element(By.ID, "deadletters").text, "the dead letter is listed with its reason")
when = driver.find_element(By.CSS_SELECTOR, "#deadletters td.when")
check(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", when.text) is not None, "the time is shown to the second (" + when.text + ")")
check(when.get_attribute("title").startswith(when.text.replace(" ", "T")), "the full time is its title (" + when.get_attribute("title") + ")")
lines = driver.execute_script("const r = document.createRange(); r.selectNodeContents(arguments[0]); return r.getClientRects().length;", when)
check(lines == 1, "the time stays on one line (" + str(lines) + " lines)")

# A town's operator sees only the town: not the city's case.
driver.find_element(By.CSS_SELECTOR, "header form button").click()
login(town_user, town_password)
driver.get(base + "/cases/" + dispatched)
check("No case" in driver.page_source, "another town's operator cannot open the case")
driver.get(base + "/")
wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#grid-map path.other")) > 1000, "another town's grids are greyed for a town operator")
driver.quit()
print("all checks passed")
