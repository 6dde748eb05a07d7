//! yiqi-tlog's tests, in one binary so that they share helpers and link once.

mod checkpoint;
mod common;
mod cosignature;
mod frontier;
mod storage;
mod tiles;
mod vectors;
mod worked_example;
