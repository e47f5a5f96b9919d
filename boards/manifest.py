# Freezes the threadbeat firmware into a MicroPython build (README, "Freezing the firmware"), e.g. in the esp32 port:
#   make BOARD=ESP32_GENERIC_S3 FROZEN_MANIFEST=/path/to/threadbeat/boards/manifest.py
# The port's own manifest stays in (on the ESP32 it holds neopixel and the boot scripts); on other ports point this
# include at theirs or drop it. Every firmware/*.py except main.py (copied to the board), params_help.py (desk only)
# and kick_weights_small.py (the smaller kick model for filesystem installs; frozen tables stay in flash).
include("$(PORT_DIR)/boards/manifest.py")
package("firmware", files=[f for f in __import__("os").listdir("../firmware") if f.endswith(".py") and f not in ("main.py", "params_help.py", "kick_weights_small.py")], base_path="..")
