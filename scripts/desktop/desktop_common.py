"""What the desktop sessions (session.py, new_user.py) do the same way: fill the screen, show the toolbox, quit.

Both are QGIS ``--code`` scripts; they import this module from their own folder.
"""

from qgis.core import QgsApplication, QgsProject, QgsSettings
from qgis.utils import iface, plugins


def show_provider_in_toolbox() -> None:
    """Main window over the whole (virtual) screen, toolbox shown with only Landslide AI expanded.

    Xvfb has no window manager, so the main window is sized by hand.
    """
    iface.mainWindow().setGeometry(QgsApplication.primaryScreen().availableGeometry())
    tb = plugins["processing"].toolbox
    tb.show()
    tb.raise_()
    tree = tb.algorithmTree
    model = tree.model()
    tree.collapseAll()
    for row in range(model.rowCount()):
        idx = model.index(row, 0)
        if model.data(idx) == "Landslide AI":
            tree.expandRecursively(idx)
            tree.scrollTo(idx)


def quit_like_a_user() -> None:
    """Leave QGIS through its own File > Exit, as a user closing the window does.

    Why: ``QgsApplication.quit()`` ends the event loop with the main window, its docks and the
    project still alive; their destructors then run in an arbitrary order and QGIS crashed in
    ``QgisApp::setMapStyleDockLayer`` while the layer tree emptied. File > Exit unloads plugins and
    clears the project first. No "save changes?" or "temporary layers" question may wait (nobody answers).
    """
    settings = QgsSettings()
    settings.setValue("askToSaveMemoryLayers", False, QgsSettings.App)  # Processing temp outputs count as temporary
    settings.setValue("qgis/askToSaveProjectChanges", False)
    QgsProject.instance().setDirty(False)
    iface.actionExit().trigger()
