"""The dashboard in a real browser (Debian's headless Chromium through selenium): load the
page, give it a key, start a solve from an uploaded G-set file, see the job complete."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
DOCS = Path(__file__).resolve().parents[3] / "docs"


def _browser():  # type: ignore[no-untyped-def]
    if not (Path(CHROMIUM).exists() and Path(DRIVER).exists()):
        if os.environ.get("QSERVICE_REQUIRE_BROWSER") == "1":
            pytest.fail("QSERVICE_REQUIRE_BROWSER=1 but chromium/chromedriver are not installed")
        pytest.skip("no Chromium: apt-get install chromium chromium-driver (.ci/run does)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="qservice-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--window-size=1280,1000",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    return driver, profile


def test_dashboard_starts_a_gset_solve_and_shows_it_finish(live, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    # a 6-node weighted cycle with a chord, in G-set's format (1-based "i j w")
    gset = tmp_path / "tiny.gset"
    gset.write_text("6 7\n1 2 1\n2 3 1\n3 4 1\n4 5 1\n5 6 1\n6 1 1\n1 4 2\n")
    driver, profile = _browser()
    try:
        driver.get(live.url + "/dashboard")
        wait = WebDriverWait(driver, 60)
        wait.until(ec.text_to_be_present_in_element((By.ID, "health"), "health: ok"))
        driver.find_element(By.ID, "api-key").send_keys(live.keys["admin"])
        driver.find_element(By.ID, "save-key").click()
        driver.find_element(By.ID, "gset-file").send_keys(str(gset))
        driver.find_element(By.ID, "solver").clear()
        driver.find_element(By.ID, "solver").send_keys("exact")
        driver.find_element(By.ID, "start-solve").click()
        wait.until(ec.text_to_be_present_in_element((By.ID, "solve-status"), "job "))
        job_id = driver.find_element(By.ID, "solve-status").get_attribute("data-job-id")
        assert job_id
        row = f'#jobs-table tr[data-job-id="{job_id}"][data-status="succeeded"]'
        WebDriverWait(driver, 120).until(ec.presence_of_element_located((By.CSS_SELECTOR, row)))
        text = driver.find_element(By.CSS_SELECTOR, row).text
        # the 6-cycle is bipartite and the chord joins 1 and 4, an odd distance apart: the
        # alternating split cuts every edge, so the maximum cut is the total weight, 8
        assert "cut 8" in text, text
        wait.until(ec.text_to_be_present_in_element((By.ID, "solve-status"), "succeeded"))
        if os.environ.get("QSERVICE_SCREENSHOTS") == "1":
            driver.save_screenshot(str(DOCS / "service-dashboard.png"))
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
