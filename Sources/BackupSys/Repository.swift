import HookVM
