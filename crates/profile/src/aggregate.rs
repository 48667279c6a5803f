//! Flat and cumulative values per function, line, file or stack.
