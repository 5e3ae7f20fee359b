//! scalekeeper
