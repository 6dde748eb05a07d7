//! Deterministic realistic catalogues (`yiqi-node generate`).
