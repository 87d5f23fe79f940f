# The root logger's handler (the Python half of port/pylog.c), added when
# logging is first imported (at once if site imported it): importing
# logging at start-up would cost more than Python's own start. _Finder,
# first on sys.meta_path until then, wraps the loader of `logging` so that
# the handler is added right after the module runs. The thread-local flag
# drops a record logged while the same thread formats one. py_port
# carries this file as a C string (cmake/EmbedText.cmake) and runs it once
# in each interpreter at start-up.
import sys as _sys, erlang as _erlang
def _install(logging):
    import threading
    class _ErlangHandler(logging.Handler):
        def __init__(self):
            super().__init__()
            self._busy = threading.local()
        def emit(self, record):
            if getattr(self._busy, 'on', False):
                return
            self._busy.on = True
            try:
                _erlang._log(record.levelno, record.name, record.module,
                             record.lineno, self.format(record))
            except Exception:
                self.handleError(record)
            finally:
                self._busy.on = False
    logging.getLogger().addHandler(_ErlangHandler())
class _Loader:
    def __init__(self, loader):
        self.loader = loader
    def create_module(self, spec):
        return self.loader.create_module(spec)
    def exec_module(self, module):
        if _Finder in _sys.meta_path:
            _sys.meta_path.remove(_Finder)
        module.__loader__ = module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        _install(module)
class _Finder:
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name != 'logging':
            return None
        for finder in _sys.meta_path:
            find = finder is not cls and getattr(finder, 'find_spec', None)
            spec = find(name, path, target) if find else None
            if spec is not None and spec.loader is not None:
                spec.loader = _Loader(spec.loader)
                return spec
        return None
if 'logging' in _sys.modules:
    _install(_sys.modules['logging'])
else:
    _sys.meta_path.insert(0, _Finder)
