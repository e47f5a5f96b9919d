# threadbeat firmware entry point: MicroPython runs this file at boot (and `micropython main.py`
# runs it on a desk profile). Everything lives in firmware/app.py so it can be imported and tested.
from firmware.app import run

run()
