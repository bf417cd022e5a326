//! sms channel client (being written).
