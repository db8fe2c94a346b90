"""The dependency table: status of each package and the message that tells what to install."""

from landslide_ai.core import dependencies as deps


def test_every_dependency_of_this_environment_is_found_with_its_version():
    """What QGIS and the distribution provide is always there; the installer's rows in a full environment."""
    full = deps.status("torch").installed is not None  # a bare QGIS (LANDSLIDEAI_MINIMAL runs) has none of them
    for s in deps.all_status():
        if full or not s.dependency.installer:
            assert s.installed, s.dependency.module
            assert s.ok, s.problem


def test_too_old_and_missing_packages_say_what_to_install():
    d = deps.DEPENDENCIES["xgboost"]
    old = deps.Status(d, "1.7.6")
    assert not old.ok and "older than 2.0" in old.problem and "pip install xgboost" in old.problem
    gone = deps.Status(d, None)
    assert not gone.ok and "not installed" in gone.problem and "pip install xgboost" in gone.problem
    (msg,) = deps.problems(("numpy", "no_such_module_xyz"))
    assert msg.startswith("no_such_module_xyz is not installed") and deps.INSTALLER_MENU in msg


def test_local_version_suffixes_compare_by_their_numbers():
    assert deps._version_tuple("2.15.0+cu132") == (2, 15, 0)
    assert deps._version_tuple("1.3.5") > deps._version_tuple("1.3")
    assert deps._version_tuple("0.13rc1") == (0, 13)


def test_a_placeholder_version_is_trusted_and_said_so():
    """Debian sid's shapely 2.1 (QGIS 3.44) reports '0+unknown': importable, so usable, and the dialog says why."""
    d = deps.DEPENDENCIES["shapely"]
    for v in ("0+unknown", "0", "0.0.0", ""):
        s = deps.Status(d, v)
        assert s.ok and not s.version_known and s.problem == "" and "version not reported" in s.shown
    real = deps.Status(d, "1.7.1")
    assert real.version_known and not real.ok and real.shown == "1.7.1"
    assert deps.Status(d, "0.9").version_known  # a real 0.x release is compared, not trusted
    assert deps.Status(d, None).shown == "-"
