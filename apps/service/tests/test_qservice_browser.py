"""The dashboard in a real browser (Debian's headless Chromium through selenium): load the
page, give it a key, start a solve from an uploaded G-set file, see the job complete; the
federated runs' accuracy and epsilon per round drawn as charts."""

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


# two finished federated runs, put in the store as a worker would leave them (a real run is
# the slow test's business): one with its rounds in the result, one only in its round events
ROUNDS = [
    {"round": 1, "accuracy": 0.41, "epsilon_max": 1.2},
    {"round": 2, "accuracy": 0.55, "epsilon_max": 2.1},
    {"round": 3, "accuracy": 0.62, "epsilon_max": 2.9},
]


def _finished_run(live, with_result_rounds: bool) -> str:
    from sqlalchemy import select

    from qservice.db import Database
    from qservice.jobs import store
    from qservice.models import ApiKey

    db = Database(live.settings())
    try:
        prefix = live.keys["admin"].split("_")[1]
        with db.session() as s:
            key_id = s.scalar(select(ApiKey.id).where(ApiKey.prefix == prefix))
        job, _ = store.create_job(db, key_id, "federated", {"config": {"rounds": 3}}, None, 1000)
        assert store.claim(db, job.id, "browser-test", lease=600) is not None
        for row in ROUNDS:
            store.add_event(db, job.id, "round", {**row, "rounds": 3})
        result = {"final": ROUNDS[-1], **({"rounds": ROUNDS} if with_result_rounds else {})}
        assert store.finish(db, job.id, "browser-test", "succeeded", result=result)
        return job.id
    finally:
        db.dispose()


READ_CHARTS = """
return Array.from(document.querySelectorAll(arguments[0])).map((canvas) => {
  const points = JSON.parse(canvas.dataset.points);
  const g = canvas.getContext("2d");
  return {
    metric: canvas.dataset.metric,
    points: points,
    pixels: points.map((p) => Array.from(g.getImageData(p[2], p[3], 1, 1).data)),
  };
});
"""


def test_dashboard_draws_accuracy_and_epsilon_per_round(live):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    runs = [_finished_run(live, True), _finished_run(live, False)]
    colours = {"accuracy": (27, 95, 184), "epsilon_max": (179, 38, 30)}
    driver, profile = _browser()
    try:
        driver.get(live.url + "/dashboard")
        driver.find_element(By.ID, "api-key").send_keys(live.keys["admin"])
        driver.find_element(By.ID, "save-key").click()
        for job_id in runs:
            selector = f'#runs .run[data-job-id="{job_id}"] canvas[data-points]'
            WebDriverWait(driver, 60).until(
                lambda d, sel=selector: len(d.find_elements(By.CSS_SELECTOR, sel)) == 2
            )
            # one synchronous script reads both charts (the page redraws them every second)
            charts = driver.execute_script(READ_CHARTS, selector)
            assert sorted(c["metric"] for c in charts) == ["accuracy", "epsilon_max"]
            for chart in charts:
                metric, points = chart["metric"], chart["points"]
                assert [(p[0], p[1]) for p in points] == [(r["round"], r[metric]) for r in ROUNDS]
                # each point's marker is on the canvas, in the series' colour
                for pixel in chart["pixels"]:
                    assert tuple(pixel[:3]) == colours[metric], (metric, points, pixel)
                # later rounds are drawn higher: accuracy and epsilon both grow here
                assert points[0][3] > points[1][3] > points[2][3]
        label = driver.find_element(By.CSS_SELECTOR, f'#runs .run[data-job-id="{runs[0]}"] p')
        assert "3 rounds" in label.text and "succeeded" in label.text
        if os.environ.get("QSERVICE_SCREENSHOTS") == "1":
            runs_box = driver.find_element(By.ID, "runs")
            driver.execute_script("arguments[0].scrollIntoView()", runs_box)
            runs_box.screenshot(str(DOCS / "service-dashboard-runs.png"))
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
