//! Synthetic profiles from named stacks, for when there is no program to
//! take a real profile from: tests, examples, converters from other formats.
//!
//! A profile stores a stack as ids — sample → locations → lines →
//! functions → string indices — so writing one by hand means interning and
//! deduplicating at every level. [`ProfileBuilder`] does that bookkeeping;
//! the caller names functions, leaf first, as a flame graph or
//! `go tool pprof -traces` would show them.

use std::collections::HashMap;

use crate::{Function, Line, Location, Mapping, Profile, Sample, StrIdx, ValueType};

/// One frame of a stack: a function, and where in the source it runs.
///
/// A bare `&str` converts into a frame whose file and line are the
/// builder's defaults ([`ProfileBuilder::file`], [`ProfileBuilder::line`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The function's name.
    pub function: &'a str,
    /// Its source file; `None` for the builder's default.
    pub file: Option<&'a str>,
    /// The line number; `None` for the builder's default.
    pub line: Option<i64>,
}

impl<'a> Frame<'a> {
    /// `function` at `file:line`.
    pub fn at(function: &'a str, file: &'a str, line: i64) -> Frame<'a> {
        Frame {
            function,
            file: Some(file),
            line: Some(line),
        }
    }
}

impl<'a> From<&'a str> for Frame<'a> {
    fn from(function: &'a str) -> Frame<'a> {
        Frame {
            function,
            file: None,
            line: None,
        }
    }
}

/// Builds a valid [`Profile`] from stacks of function names.
///
/// Functions are shared by name and file; locations are shared by their
/// frames (and mapping), unless [`location_per_frame`](Self::location_per_frame)
/// asks for one per frame of every sample. Ids are dense, in order of first
/// use, and every location has a distinct address (`0x1000 + id`). Every
/// profile [`build`](Self::build) returns passes [`crate::validate::validate`].
///
/// Options (`file`, `line`, `mapping`, `location_per_frame`) apply to the
/// frames added after them.
///
/// ```
/// use leakwatch_profile::{validate::validate, Frame, ProfileBuilder};
///
/// let mut builder = ProfileBuilder::new(&[("inuse_objects", "count"), ("inuse_space", "bytes")])
///     .file("/src/cache.go");
/// builder
///     .sample(&["main.newEntry", "main.(*cache).get", "main.main"], &[3, 3 << 10])
///     .sample(&["main.render", "main.main"], &[1, 512]);
/// // A location holding an inlined call, innermost first, at explicit lines.
/// builder.sample_inlined(
///     &[
///         &[Frame::at("bytes.growSlice", "/go/src/bytes/buffer.go", 249),
///           Frame::at("main.handle", "/src/handler.go", 17)],
///         &["main.main".into()],
///     ],
///     &[2, 4096],
/// );
/// let profile = builder.build();
///
/// assert!(validate(&profile).is_ok());
/// assert_eq!(profile.samples.len(), 3);
/// // main.main is one function at one location, shared by all three stacks.
/// assert_eq!(profile.functions.len(), 6);
/// assert_eq!(profile.samples[0].location_ids.last(), profile.samples[2].location_ids.last());
/// ```
#[derive(Debug, Clone)]
pub struct ProfileBuilder {
    profile: Profile,
    strings: HashMap<String, StrIdx>,
    /// (name, file) → function id.
    functions: HashMap<(StrIdx, StrIdx), u64>,
    /// (mapping id, (function id, line) of each frame) → location id.
    locations: HashMap<(u64, Vec<(u64, i64)>), u64>,
    file: String,
    line: i64,
    mapping_id: u64,
    location_per_frame: bool,
}

impl ProfileBuilder {
    /// An empty profile whose samples measure `sample_types`, given as
    /// `(type, unit)` pairs such as `("inuse_space", "bytes")`.
    ///
    /// Frames without a file of their own are in `/src/main.go`, at line 1.
    pub fn new(sample_types: &[(&str, &str)]) -> ProfileBuilder {
        let mut b = ProfileBuilder {
            profile: Profile {
                strings: vec![String::new()],
                ..Profile::default()
            },
            strings: HashMap::from([(String::new(), 0)]),
            functions: HashMap::new(),
            locations: HashMap::new(),
            file: "/src/main.go".to_owned(),
            line: 1,
            mapping_id: 0,
            location_per_frame: false,
        };
        for (ty, unit) in sample_types {
            let vt = ValueType {
                ty: b.intern(ty),
                unit: b.intern(unit),
            };
            b.profile.sample_types.push(vt);
        }
        b
    }

    /// The source file of frames that do not name one.
    pub fn file(mut self, file: &str) -> ProfileBuilder {
        file.clone_into(&mut self.file);
        self
    }

    /// The line number of frames that do not give one.
    pub fn line(mut self, line: i64) -> ProfileBuilder {
        self.line = line;
        self
    }

    /// Adds a mapping of the binary `filename` (functions, files, lines and
    /// inlined frames known); the locations created after it belong to it.
    pub fn mapping(mut self, filename: &str) -> ProfileBuilder {
        let filename = self.intern(filename);
        self.mapping_id = self.profile.mappings.len() as u64 + 1;
        self.profile.mappings.push(Mapping {
            id: self.mapping_id,
            filename,
            has_functions: true,
            has_filenames: true,
            has_line_numbers: true,
            has_inline_frames: true,
            ..Mapping::default()
        });
        self
    }

    /// Gives every frame of every sample a location of its own, as a real
    /// profile has one per call site (program counter), so that one
    /// function stands at many locations.
    pub fn location_per_frame(mut self) -> ProfileBuilder {
        self.location_per_frame = true;
        self
    }

    /// Adds a sample: `stack` leaf first (`&["leaf", "caller", "main"]`, or
    /// [`Frame`]s), with one value per sample type.
    ///
    /// # Panics
    ///
    /// When `values` does not hold one value per sample type: the profile
    /// would not be valid.
    pub fn sample<'f, F>(&mut self, stack: &[F], values: &[i64]) -> &mut ProfileBuilder
    where
        F: Into<Frame<'f>> + Copy,
    {
        let location_ids = stack.iter().map(|&f| self.location(&[f.into()])).collect();
        self.push(location_ids, values)
    }

    /// Adds a sample whose locations each hold several frames: `stack` is
    /// leaf first, and each location's frames innermost (the inlined callee)
    /// first, as in [`Location::lines`].
    ///
    /// # Panics
    ///
    /// When `values` does not hold one value per sample type.
    pub fn sample_inlined<'f, F>(&mut self, stack: &[&[F]], values: &[i64]) -> &mut ProfileBuilder
    where
        F: Into<Frame<'f>> + Copy,
    {
        let location_ids = stack
            .iter()
            .map(|frames| {
                let frames: Vec<Frame> = frames.iter().map(|&f| f.into()).collect();
                self.location(&frames)
            })
            .collect();
        self.push(location_ids, values)
    }

    /// The profile of the samples added so far. The builder can go on, so a
    /// series of growing profiles is one builder and a `build` per step.
    pub fn build(&self) -> Profile {
        self.profile.clone()
    }

    fn push(&mut self, location_ids: Vec<u64>, values: &[i64]) -> &mut ProfileBuilder {
        let expected = self.profile.sample_types.len();
        assert_eq!(
            values.len(),
            expected,
            "sample {} has {} values, but the profile has {expected} sample types",
            self.profile.samples.len(),
            values.len(),
        );
        self.profile.samples.push(Sample {
            location_ids,
            values: values.to_vec(),
            labels: Vec::new(),
        });
        self
    }

    fn location(&mut self, frames: &[Frame]) -> u64 {
        let lines: Vec<Line> = frames
            .iter()
            .map(|f| Line {
                function_id: self.function(f),
                line: f.line.unwrap_or(self.line),
                column: 0,
            })
            .collect();
        let key = (
            self.mapping_id,
            lines.iter().map(|l| (l.function_id, l.line)).collect(),
        );
        if !self.location_per_frame {
            if let Some(&id) = self.locations.get(&key) {
                return id;
            }
        }
        let id = self.profile.locations.len() as u64 + 1;
        self.profile.locations.push(Location {
            id,
            mapping_id: self.mapping_id,
            address: 0x1000 + id,
            lines,
            is_folded: false,
        });
        if !self.location_per_frame {
            self.locations.insert(key, id);
        }
        id
    }

    fn function(&mut self, frame: &Frame) -> u64 {
        let name = self.intern(frame.function);
        let file = match frame.file {
            Some(file) => self.intern(file),
            None => {
                // Taken out and put back: `intern` borrows all of `self`,
                // and a clone would allocate for every frame.
                let file = std::mem::take(&mut self.file);
                let idx = self.intern(&file);
                self.file = file;
                idx
            }
        };
        if let Some(&id) = self.functions.get(&(name, file)) {
            return id;
        }
        let id = self.profile.functions.len() as u64 + 1;
        self.profile.functions.push(Function {
            id,
            name,
            system_name: name,
            filename: file,
            start_line: 0,
        });
        self.functions.insert((name, file), id);
        id
    }

    fn intern(&mut self, s: &str) -> StrIdx {
        if let Some(&i) = self.strings.get(s) {
            return i;
        }
        let i = self.profile.strings.len() as StrIdx;
        self.profile.strings.push(s.to_owned());
        self.strings.insert(s.to_owned(), i);
        i
    }
}
