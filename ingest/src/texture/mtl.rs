//! Wavefront material files (MTL): which image each material's diffuse colour (`map_Kd`) comes from.
//! Everything else a material says (shininess, other maps) does not change the evidence's colour and is counted.

use std::collections::BTreeMap;

use crate::error::ParseError;

/// The materials of one MTL file: name → the `map_Kd` file as written (relative to the MTL file).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MaterialLibrary {
    /// Each material's diffuse image, when it has one.
    pub diffuse_maps: BTreeMap<String, Option<String>>,
    /// Statements not used, by keyword, with how often they occur.
    pub unused: BTreeMap<String, u64>,
}

/// `map_Kd` options and how many values each takes; the file name is what follows them.
const MAP_OPTIONS: [(&str, usize); 11] = [
    ("-blendu", 1),
    ("-blendv", 1),
    ("-cc", 1),
    ("-clamp", 1),
    ("-mm", 2),
    ("-o", 3),
    ("-s", 3),
    ("-t", 3),
    ("-texres", 1),
    ("-bm", 1),
    ("-imfchan", 1),
];

/// Parse an MTL file; the error names the line.
pub fn parse_mtl(bytes: &[u8]) -> Result<MaterialLibrary, String> {
    parse(bytes).map_err(|e| match e.at {
        crate::error::At::Line(line) => format!("line {line}: {}", e.reason),
        crate::error::At::Byte(byte) => format!("byte {byte}: {}", e.reason),
    })
}

fn parse(bytes: &[u8]) -> Result<MaterialLibrary, ParseError> {
    let mut library = MaterialLibrary::default();
    let mut current: Option<String> = None;
    for (line_index, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let line_number = line_index as u64 + 1;
        let text = std::str::from_utf8(line)
            .map_err(|_| ParseError::line(line_number, "line is not UTF-8 text"))?;
        let text = text.split('#').next().unwrap_or("").trim();
        let Some(keyword) = text.split_ascii_whitespace().next() else {
            continue;
        };
        let rest = text[keyword.len()..].trim();
        match keyword {
            "newmtl" => {
                if rest.is_empty() {
                    return Err(ParseError::line(line_number, "newmtl needs a name"));
                }
                library.diffuse_maps.insert(rest.to_owned(), None);
                current = Some(rest.to_owned());
            }
            "map_Kd" => {
                let Some(name) = &current else {
                    return Err(ParseError::line(line_number, "map_Kd before any newmtl"));
                };
                let file = map_file(rest)
                    .ok_or_else(|| ParseError::line(line_number, "map_Kd names no file"))?;
                library.diffuse_maps.insert(name.clone(), Some(file));
            }
            other => *library.unused.entry(other.to_owned()).or_default() += 1,
        }
    }
    Ok(library)
}

/// The file name of a map statement: what follows its options (a name may contain spaces).
fn map_file(rest: &str) -> Option<String> {
    let words: Vec<&str> = rest.split_ascii_whitespace().collect();
    let mut at = 0;
    while at < words.len() {
        let Some(&(_, max_values)) = MAP_OPTIONS.iter().find(|(o, _)| *o == words[at]) else {
            break;
        };
        at += 1;
        // Options take up to `max_values` values; numeric ones may be fewer (-s 2 2 means -s 2 2 1).
        let mut taken = 0;
        while taken < max_values
            && at < words.len() - 1
            && (taken == 0 || words[at].parse::<f64>().is_ok())
        {
            at += 1;
            taken += 1;
        }
    }
    let file = words.get(at..)?.join(" ");
    (!file.is_empty()).then_some(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diffuse_maps_with_options_and_spaces() {
        let library = parse_mtl(
            b"newmtl a\nKd 1 1 1\nmap_Kd texture_map.jpg\nnewmtl b\nmap_Kd -s 1 1 1 -clamp on my print.png\nnewmtl c\nNs 10\n",
        )
        .unwrap();
        assert_eq!(
            library.diffuse_maps["a"].as_deref(),
            Some("texture_map.jpg")
        );
        assert_eq!(library.diffuse_maps["b"].as_deref(), Some("my print.png"));
        assert_eq!(library.diffuse_maps["c"], None);
        assert_eq!(library.unused["Kd"], 1);
    }

    #[test]
    fn a_map_outside_a_material_is_refused_with_its_line() {
        let error = parse_mtl(b"\nmap_Kd x.png\n").unwrap_err();
        assert_eq!(error, "line 2: map_Kd before any newmtl");
    }
}
