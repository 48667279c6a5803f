//! Structural validation of a decoded profile.
