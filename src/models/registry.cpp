// The architecture registry (`model.arch` names to builders) and the validation of a whole config, which
// resolves the architecture and the loss once and applies the rules of each.
#include "ganpp/errors.hpp"
#include "ganpp/models.hpp"

namespace ganpp {

const std::vector<Architecture>& architectures() {
  static const std::vector<Architecture> kArchitectures = {
      {"mlp", /*convolutional=*/false, /*d_batch_norm=*/false, check_mlp, build_mlp},
      {"dcgan", /*convolutional=*/true, /*d_batch_norm=*/true, check_dcgan, build_dcgan},
  };
  return kArchitectures;
}

const Architecture& find_architecture(const std::string& name) {
  for (const auto& arch : architectures())
    if (arch.name == name) return arch;
  std::string names;
  for (const auto& arch : architectures()) names += (names.empty() ? "" : ", ") + arch.name;
  throw UsageError("config key 'model.arch' = \"" + abbreviate(name) +
                   "\" is not a registered architecture; choose one of: " + names);
}

ResolvedConfig validate(const Config& config) {
  validate_fields(config);
  const Loss& loss = find_loss(config.loss.kind);
  check_loss(loss, config);
  const Architecture& arch = find_architecture(config.model.arch);
  arch.check(config.model, network_shape(config));
  return {arch, loss};
}

bool discriminator_batch_norm(const Config& config) {
  const DiscriminatorNorm norm = config.model.d.norm;
  if (norm != DiscriminatorNorm::automatic) return norm == DiscriminatorNorm::batch;
  return find_architecture(config.model.arch).d_batch_norm &&
         !has_gradient_penalty(find_loss(config.loss.kind), config.loss);
}

NetworkShape network_shape(const Config& config) {
  return {config.data.channels, config.data.image_size, discriminator_batch_norm(config), conditional_classes(config)};
}

Networks build_networks(const Config& config) {
  if (config.model.conditional && config.model.num_classes < 2)
    throw UsageError("model.conditional = true needs the number of classes (model.num_classes), which training "
                     "takes from the dataset's labels");
  const Architecture& arch = find_architecture(config.model.arch);
  const NetworkShape shape = network_shape(config);
  arch.check(config.model, shape);
  return arch.build(config.model, shape);
}

std::string describe_variant(const Config& c) {
  const ModelConfig& m = c.model;
  std::string text = m.arch;
  if (find_architecture(m.arch).convolutional)
    text += m.g.upsample == Upsample::deconv ? ", G transposed convs"
                                             : ", G " + spelling(m.g.upsample) + " upsampling + conv";
  text += ", G output " + spelling(m.g.output);
  if (m.conditional) {
    text += ", conditional (" + (m.num_classes > 0 ? std::to_string(m.num_classes) : std::string("dataset's")) +
            " classes; G " +
            (m.g.embed_dim > 0 ? "label embedding " + std::to_string(m.g.embed_dim) : "one-hot labels") + ", D " +
            spelling(m.d.conditioning) + ")";
  }
  text += std::string(", D batch norm ") + (discriminator_batch_norm(c) ? "on" : "off");
  if (m.d.spectral_norm || m.g.spectral_norm)
    text += std::string(", spectral norm in ") + (m.d.spectral_norm && m.g.spectral_norm ? "G and D"
                                                  : m.d.spectral_norm                    ? "D"
                                                                                         : "G");
  if (m.d.dropout > 0) text += ", D dropout " + std::to_string(m.d.dropout).substr(0, 4);
  text += "; loss " + c.loss.kind;
  if (c.loss.feature_matching > 0) text += " + feature matching";
  if (m.conditional && m.d.conditioning == Conditioning::ac) text += " + class cross-entropy";
  return text;
}

int64_t count_parameters(const torch::nn::Module& module) {
  int64_t n = 0;
  for (const auto& p : module.parameters()) n += p.numel();
  return n;
}

}  // namespace ganpp
