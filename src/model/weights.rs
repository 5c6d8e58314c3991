//! A deterministic weights file: every float tensor of a module (BatchNorm
//! running statistics included) by path, in visit order. burn's own record
//! embeds random parameter ids, so the same weights would hash differently
//! from run to run; artifacts must not.

use anyhow::{Context, bail};
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Tensor, TensorData};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;

const MAGIC: &[u8; 8] = b"REPROWT1";

#[derive(serde::Serialize, serde::Deserialize)]
struct Entry {
    path: String,
    shape: Vec<usize>,
}

#[derive(Default)]
struct Collector {
    stack: Vec<String>,
    entries: Vec<Entry>,
    data: Vec<f32>,
}

impl ModuleVisitor for Collector {
    fn enter_module(&mut self, name: &str, _container: &str) {
        self.stack.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.stack.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let tensor = param.val();
        let shape = tensor.dims().to_vec();
        let values = tensor.into_data().convert::<f32>().try_into_vec::<f32>().expect("float tensor");
        self.entries.push(Entry { path: self.stack.join("."), shape });
        self.data.extend(values);
    }
}

/// Writes `module`'s float tensors to `path`.
pub fn save<M: Module>(module: &M, path: &Path) -> anyhow::Result<()> {
    let mut c = Collector::default();
    module.visit(&mut c);
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?);
    crate::framed::write_header(&mut out, MAGIC, &c.entries)?;
    for v in &c.data {
        out.write_all(&v.to_le_bytes())?;
    }
    out.flush()?;
    Ok(())
}

struct Loader {
    stack: Vec<String>,
    tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    missing: Vec<String>,
}

impl ModuleMapper for Loader {
    fn enter_module(&mut self, name: &str, _container: &str) {
        self.stack.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.stack.pop();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let path = self.stack.join(".");
        let (id, tensor, _) = param.consume();
        match self.tensors.remove(&path) {
            Some((shape, data)) if shape == tensor.dims().to_vec() => {
                let device = tensor.device();
                Param::initialized(id, Tensor::from_data(TensorData::new(data, shape), &device))
            }
            _ => {
                self.missing.push(path);
                Param::initialized(id, tensor)
            }
        }
    }
}

/// Loads weights saved by [`save`] into `module` (same architecture).
pub fn load<M: Module>(module: M, path: &Path) -> anyhow::Result<M> {
    let mut file = std::io::BufReader::new(std::fs::File::open(path).with_context(|| format!("cannot open weights {}", path.display()))?);
    let entries: Vec<Entry> = crate::framed::read_header(&mut file, MAGIC, path, "weights file")?;
    let mut tensors = BTreeMap::new();
    for e in entries {
        let n: usize = e.shape.iter().product();
        let mut bytes = vec![0u8; n * 4];
        file.read_exact(&mut bytes).with_context(|| format!("{}: truncated", path.display()))?;
        let data = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        tensors.insert(e.path, (e.shape, data));
    }
    let mut loader = Loader { stack: Vec::new(), tensors, missing: Vec::new() };
    let module = module.map(&mut loader);
    if !loader.missing.is_empty() || !loader.tensors.is_empty() {
        bail!(
            "{}: weights do not fit the model (missing {:?}, unused {:?})",
            path.display(),
            loader.missing,
            loader.tensors.keys().collect::<Vec<_>>()
        );
    }
    Ok(module)
}
