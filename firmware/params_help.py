# The parameters' help texts, for the desk only (`threadbeat params`, `threadbeat tune`): the garment
# never imports this module, so the texts cost its heap nothing (issue 3). firmware/params.py adds
# them to SCHEMA on CPython. A parameter without an entry here gets an empty help text.
HELP = {
    "brightness": "global brightness; the board's max_brightness caps it",
    "gamma": "LED gamma correction (22 = 2.2)",
    "bass_lo": "lower edge of the bass band",
    "bass_hi": "upper edge of the bass band",
    "gate": "how far a band must rise above its noise floor to light",
    "floor_rise": "how fast the noise floor climbs onto a steady sound (hum, hiss)",
    "agc_hold": "how long the gain holds after a peak before it recovers",
    "agc_release": "how fast the gain recovers after the hold",
    "agc_range": "how far under the recent peak a band fades to dark; quiet passages stay dim",
    "rise": "attack of the smoothed features, per hop",
    "decay": "release of the smoothed features, per hop",
    "sensitivity": "beat sensitivity: higher fires on softer kicks",
    "refractory": "shortest time between two beats",
    "voice_guard": "dim while the bass sits this far under the mids, as in speech (0 = off)",
    "speed": "animation speed of sweeps, ripples and sparkles",
}
