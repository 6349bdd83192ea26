//! Test-only native driver for the core (see `driver`).
