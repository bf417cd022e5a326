//! fcm channel client (being written).
