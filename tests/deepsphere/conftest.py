from tests.cmbnncs.conftest import single_torch_thread

__all__ = ["single_torch_thread"]
