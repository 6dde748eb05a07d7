//! Reading a platform's catalogue files (native JSON/NDJSON, the NRII template, mapped CSV).
