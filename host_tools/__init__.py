# threadbeat host tools: laptop-side replay, preview, tuning and flashing utilities.
