# threadbeat firmware: the portable core (DSP, mapping, layout, config, protocol) and the
# hardware adapters at its edges. Core modules import no hardware and run unchanged on
# CPython, the MicroPython VM and the ESP32.
