"""Modal dialogs (`ModalScreen[Result]`), one per module; escape always cancels."""
