//! apns channel client (being written).
