//! The catalogue: short names for what refvid runs, each with the Hub repositories and exactly
//! the files it needs (the diffusers folders without their README, images and other extras).

/// One repository's share of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    /// `org/repo` on the Hub.
    pub repo: &'static str,
    /// Branch, tag or commit pulled unless `--revision` says otherwise.
    pub revision: &'static str,
    /// What to take: exact paths, or folders written with a trailing `/` (everything under them).
    pub include: &'static [&'static str],
    /// Where this part's files go in the entry's folder (`""`: at its top). A single part at
    /// the top is used in place (its snapshot is the folder); otherwise the folder is assembled
    /// from links to each part's files.
    pub subdir: &'static str,
}

/// A catalogue entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The name used with `refvid models pull NAME` and `--model NAME`.
    pub name: &'static str,
    /// One line for `refvid models list`.
    pub about: &'static str,
    /// The repositories it is made of.
    pub parts: &'static [Part],
}

/// The parts of a diffusers `WanVACEPipeline` folder that the wan engine loads.
const DIFFUSERS_WAN: &[&str] = &[
    "model_index.json",
    "scheduler/",
    "text_encoder/",
    "tokenizer/",
    "transformer/",
    "vae/",
];

/// Everything refvid can pull by name.
pub const CATALOGUE: &[Entry] = &[
    Entry {
        name: "wan2.1-vace-1.3b",
        about: "Wan 2.1 VACE 1.3B, diffusers layout: `--engine wan` at 480p",
        parts: &[Part {
            repo: "Wan-AI/Wan2.1-VACE-1.3B-diffusers",
            revision: "main",
            include: DIFFUSERS_WAN,
            subdir: "",
        }],
    },
    Entry {
        name: "wan2.1-vace-14b",
        about: "Wan 2.1 VACE 14B, diffusers layout: `--engine wan` at 480p/720p (needs a large GPU)",
        parts: &[Part {
            repo: "Wan-AI/Wan2.1-VACE-14B-diffusers",
            revision: "main",
            include: DIFFUSERS_WAN,
            subdir: "",
        }],
    },
    Entry {
        name: "phantom-wan-1.3b",
        about: "Phantom-Wan 1.3B in the original Wan2.1-T2V-1.3B release folder: `--engine phantom`",
        parts: &[
            Part {
                repo: "Wan-AI/Wan2.1-T2V-1.3B",
                revision: "main",
                include: &[
                    "config.json",
                    "models_t5_umt5-xxl-enc-bf16.pth",
                    "Wan2.1_VAE.pth",
                    "google/",
                ],
                subdir: "",
            },
            Part {
                repo: "bytedance-research/Phantom",
                revision: "main",
                include: &["Phantom-Wan-1.3B.pth"],
                subdir: "",
            },
        ],
    },
    // Step-distillation LoRAs for `--preset fast` (4 steps, no guidance): T2V LoRAs merge into
    // the main blocks of VACE and into Phantom's transformer of the same size. Their file names
    // carry a distillation marker, so `--lora FILE` allows `--preset fast` by itself.
    Entry {
        name: "lightx2v-t2v-14b-4step",
        about: "LightX2V 4-step distill LoRA (rank 64) for Wan2.1-T2V-14B: `--lora` it with `--preset fast` on wan2.1-vace-14b or a Phantom-Wan-14B",
        parts: &[Part {
            repo: "lightx2v/Wan2.1-Distill-Loras",
            revision: "main",
            include: &["wan2.1_t2v_14b_lora_rank64_lightx2v_4step.safetensors"],
            subdir: "",
        }],
    },
    Entry {
        name: "causvid-t2v-14b",
        about: "CausVid LoRA v2 (rank 32, Kijai's extraction) for Wan2.1-T2V-14B: `--lora` it with `--preset fast` on wan2.1-vace-14b",
        parts: &[Part {
            repo: "Kijai/WanVideo_comfy",
            revision: "main",
            include: &["Wan21_CausVid_14B_T2V_lora_rank32_v2.safetensors"],
            subdir: "",
        }],
    },
    Entry {
        name: "causvid-t2v-1.3b",
        about: "CausVid bidirectional LoRA (rank 32, Kijai's extraction) for Wan2.1-T2V-1.3B: `--lora` it with `--preset fast` on wan2.1-vace-1.3b or phantom-wan-1.3b",
        parts: &[Part {
            repo: "Kijai/WanVideo_comfy",
            revision: "main",
            include: &["Wan21_CausVid_bidirect2_T2V_1_3B_lora_rank32.safetensors"],
            subdir: "",
        }],
    },
];

/// The catalogue entry with this name.
pub fn find(name: &str) -> Option<&'static Entry> {
    CATALOGUE.iter().find(|e| e.name == name)
}

/// Whether `path` is taken by `pattern` (an exact path, or a folder ending in `/`).
pub fn selects(pattern: &str, path: &str) -> bool {
    match pattern.strip_suffix('/') {
        Some(folder) => path
            .strip_prefix(folder)
            .is_some_and(|rest| rest.starts_with('/')),
        None => path == pattern,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_take_what_is_under_them_and_paths_only_themselves() {
        assert!(selects("vae/", "vae/config.json"));
        assert!(selects("vae/", "vae/sub/x.bin"));
        assert!(!selects("vae/", "vae_extra/config.json"));
        assert!(!selects("vae/", "vae"));
        assert!(selects("model_index.json", "model_index.json"));
        assert!(!selects("model_index.json", "assets/model_index.json"));
    }

    #[test]
    fn names_are_unique_and_found() {
        for (i, entry) in CATALOGUE.iter().enumerate() {
            assert!(CATALOGUE[i + 1..].iter().all(|e| e.name != entry.name));
            assert_eq!(find(entry.name), Some(entry));
            assert!(entry.parts.iter().all(|p| !p.include.is_empty()));
        }
    }
}
