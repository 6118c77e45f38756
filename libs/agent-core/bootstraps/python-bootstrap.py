# Floe's python runtime starts here. The runtime itself is floe_runtime.py, imported rather
# than run, so that its bytecode comes compiled from __pycache__ (the agent writes it at start,
# native-build.ts): compiling it on every start took ~3 ms of a cold start's ~16 ms boot.
import sys

import floe_runtime

sys.stdout.reconfigure(line_buffering=True)
floe_runtime.main()
