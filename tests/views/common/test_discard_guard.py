"""Wizards and dialogs that hold typed input ask before Esc throws it away (issue 34: Esc on
New Machine closed the whole wizard, every field lost). What the dialog filled in itself
does not count as typed. On libvirt's test driver."""
from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget, QWizard

from ecp_desktop.views.hosts.add_connection_dialog import AddConnectionDialog
from ecp_desktop.views.new_machine.new_machine_pages import SOURCE
from ecp_desktop.views.new_machine.new_machine_wizard import open_new_machine_wizard


@pytest.fixture
def wizard(qtbot, services, run):
    host = services.inventory.add_host("test:///default")
    assert run(services.inventory.connect_host(host))
    parent = QWidget()
    qtbot.addWidget(parent)
    wizard = open_new_machine_wizard(parent, services.provisioning, host.uri)
    qtbot.waitUntil(lambda: wizard.offer is not None and not wizard.busy(), timeout=10000)
    yield wizard


def press_escape(qtbot, widget: QWidget) -> None:
    qtbot.keyClick(widget, Qt.Key.Key_Escape)


def answer(qtbot, dialog, text: str) -> None:
    qtbot.waitUntil(lambda: dialog.discard_question is not None and dialog.discard_question.isVisible())
    box: QMessageBox = dialog.discard_question
    assert box.defaultButton().text() == "Keep Editing"  # Enter keeps the input
    next(b for b in box.buttons() if b.text() == text).click()


def test_esc_with_nothing_typed_closes_at_once(qtbot, wizard):
    assert wizard.page(SOURCE).name.text()  # filled in by the wizard, not typed
    press_escape(qtbot, wizard)
    qtbot.waitUntil(lambda: not wizard.isVisible())
    assert wizard.discard_question is None


def test_esc_after_typing_asks_and_keep_editing_keeps_every_field(qtbot, wizard):
    name = wizard.page(SOURCE).name
    name.clear()
    qtbot.keyClicks(name, "web-7")
    press_escape(qtbot, name)
    answer(qtbot, wizard, "Keep Editing")
    assert wizard.isVisible() and name.text() == "web-7"
    press_escape(qtbot, name)  # asked again, this time discarded
    answer(qtbot, wizard, "Discard")
    qtbot.waitUntil(lambda: not wizard.isVisible())


def test_cancel_button_asks_too(qtbot, wizard):
    qtbot.keyClicks(wizard.page(SOURCE).name, "-x")
    wizard.button(QWizard.WizardButton.CancelButton).click()
    answer(qtbot, wizard, "Keep Editing")
    assert wizard.isVisible()


def test_add_connection_asks_once_a_uri_is_typed(qtbot, services):
    dialog = AddConnectionDialog(services.inventory, lambda *_: None)
    qtbot.addWidget(dialog)
    dialog.show()
    press_escape(qtbot, dialog)
    assert not dialog.isVisible()  # nothing typed: gone at once
    dialog.show()
    qtbot.keyClicks(dialog.label, "lab-2")
    press_escape(qtbot, dialog.label)
    answer(qtbot, dialog, "Discard")
    assert not dialog.isVisible()
