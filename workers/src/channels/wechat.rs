//! wechat channel client (being written).
