//! `gatehouse config validate|export|import` on real files, against the same data dir the server uses.
