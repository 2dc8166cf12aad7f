// Strict JSON <-> config struct conversion, overrides and field validation.
#include "ganpp/config.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "ganpp/errors.hpp"

namespace ganpp {
namespace {

std::string join(const std::vector<std::string>& items, const char* sep = ", ") {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? sep : "") + items[i];
  return out;
}

std::string type_name(const Json& j) { return j.type_name(); }

// A user's value as a message shows it: JSON text, shortened, with invalid UTF-8 replaced (dump() would throw).
std::string shown(const Json& v) { return abbreviate(v.dump(-1, ' ', false, Json::error_handler_t::replace)); }

std::string policy_text(const AugmentPolicy& p) {
  std::vector<std::string> items;
  if (p.color) items.push_back("color");
  if (p.translation) items.push_back("translation");
  if (p.cutout) items.push_back("cutout");
  return join(items, ",");
}

// Reads the fields of one JSON object. Every field is asked for by name, so once all are read the
// reader knows the valid keys and can reject the rest with the full path and the valid list.
class ObjectReader {
 public:
  ObjectReader(const Json& json, std::string path) : json_(json), path_(std::move(path)) {
    if (!json_.is_object())
      throw UsageError("config key '" + display_path() + "' must be an object, got " + type_name(json_));
  }

  void integer(const char* key, int64_t& field, int64_t min, int64_t max = INT64_MAX) {
    const Json* v = find(key);
    if (!v) return;
    if (!v->is_number_integer()) throw bad(key, "an integer", *v);
    const int64_t x = v->get<int64_t>();
    if (x < min || x > max || (v->is_number_unsigned() && v->get<uint64_t>() > uint64_t(INT64_MAX)))
      throw UsageError("config key '" + full(key) + "' = " + shown(*v) + " is out of range: " + range_text(min, max));
    field = x;
  }

  void unsigned_integer(const char* key, uint64_t& field) {
    const Json* v = find(key);
    if (!v) return;
    if (!v->is_number_integer() || (v->is_number_integer() && !v->is_number_unsigned() && v->get<int64_t>() < 0))
      throw bad(key, "a non-negative integer", *v);
    field = v->get<uint64_t>();
  }

  void real(const char* key, double& field, double min, double max, bool max_inclusive = true) {
    const Json* v = find(key);
    if (!v) return;
    if (!v->is_number()) throw bad(key, "a number", *v);
    const double x = v->get<double>();
    if (!std::isfinite(x) || x < min || x > max || (!max_inclusive && x == max))
      throw UsageError("config key '" + full(key) + "' = " + shown(*v) + " is out of range: must be in [" + num(min) +
                       ", " + num(max) + (max_inclusive ? "]" : ")"));
    field = x;
  }

  void boolean(const char* key, bool& field) {
    const Json* v = find(key);
    if (!v) return;
    if (!v->is_boolean()) throw bad(key, "true or false", *v);
    field = v->get<bool>();
  }

  void string(const char* key, std::string& field, bool allow_empty = false) {
    const Json* v = find(key);
    if (!v) return;
    if (!v->is_string()) throw bad(key, "a string", *v);
    field = v->get<std::string>();
    if (field.empty() && !allow_empty) throw UsageError("config key '" + full(key) + "' must not be empty");
    // config.json and checkpoints store the config as JSON, which holds UTF-8 text only.
    try {
      (void)Json(field).dump();
    } catch (const nlohmann::json::type_error&) {
      throw UsageError("config key '" + full(key) + "' = " + shown(*v) +
                       " is not valid UTF-8; config values are UTF-8 text (rename the file or folder it names)");
    }
  }

  // A comma-separated subset of DiffAugment's transforms, e.g. "color,translation".
  void policy(const char* key, AugmentPolicy& field) {
    std::string text = policy_text(field);
    string(key, text, /*allow_empty=*/true);
    AugmentPolicy p{false, false, false};
    std::stringstream items(text);
    for (std::string item; std::getline(items, item, ',');) {
      if (item == "color")
        p.color = true;
      else if (item == "translation")
        p.translation = true;
      else if (item == "cutout")
        p.cutout = true;
      else
        throw UsageError("config key '" + full(key) + "' = \"" + abbreviate(text) + "\" names an unknown transform '" +
                         item + "'; list some of color, translation, cutout, separated by commas");
    }
    if (!p.color && !p.translation && !p.cutout)
      throw UsageError("config key '" + full(key) + "' is empty; list some of color, translation, cutout");
    field = p;
  }

  template <class E>
  void choice(const char* key, E& field) {
    std::string value = spelling(field);
    string(key, value);
    const std::optional<E> parsed = parse_choice<E>(value);
    if (!parsed)
      throw UsageError("config key '" + full(key) + "' = \"" + abbreviate(value) +
                       "\" is not valid; choose one of: " + join(spellings<E>()));
    field = *parsed;
  }

  void int_list(const char* key, std::vector<int64_t>& field, int64_t min) {
    const Json* v = find(key);
    if (!v) return;
    if (!v->is_array()) throw bad(key, "a list of integers", *v);
    std::vector<int64_t> out;
    for (const auto& e : *v) {
      if (!e.is_number_integer() || e.get<int64_t>() < min)
        throw UsageError("config key '" + full(key) + "' must be a list of integers >= " + std::to_string(min) +
                         ", got " + shown(*v));
      out.push_back(e.get<int64_t>());
    }
    field = out;
  }

  void betas(const char* key, std::array<double, 2>& field) {
    const Json* v = find(key);
    if (!v) return;
    if (!v->is_array() || v->size() != 2 || !(*v)[0].is_number() || !(*v)[1].is_number())
      throw bad(key, "a list of two numbers [beta1, beta2]", *v);
    for (size_t i = 0; i < 2; ++i) {
      const double b = (*v)[i].get<double>();
      if (!(b >= 0.0 && b < 1.0))
        throw UsageError("config key '" + full(key) + "' = " + shown(*v) + ": each beta must be in [0, 1)");
      field[i] = b;
    }
  }

  /// A nested object; absent means all defaults.
  template <class Fn>
  void object(const char* key, Fn&& read) {
    known_.push_back(key);
    const auto it = json_.find(key);
    if (it == json_.end()) return;
    ObjectReader sub(*it, full(key));
    read(sub);
    sub.finish();
  }

  /// An informational key that is accepted and ignored (config.json's "run" block).
  void ignore(const char* key) { known_.push_back(key); }

  void finish() const {
    for (auto it = json_.begin(); it != json_.end(); ++it) {
      if (std::find(known_.begin(), known_.end(), it.key()) == known_.end())
        throw UsageError("unknown config key '" + full(it.key()) + "'; valid keys" +
                         (path_.empty() ? "" : " of '" + path_ + "'") + ": " + join(known_));
    }
  }

 private:
  const Json* find(const char* key) {
    known_.push_back(key);
    const auto it = json_.find(key);
    return it == json_.end() ? nullptr : &*it;
  }
  std::string full(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }
  std::string display_path() const { return path_.empty() ? "(top level)" : path_; }
  UsageError bad(const char* key, const char* expected, const Json& v) const {
    return UsageError("config key '" + full(key) + "' must be " + expected + ", got " + type_name(v) + " " + shown(v));
  }
  static std::string num(double x) {
    std::ostringstream s;
    s << x;
    return s.str();
  }
  static std::string range_text(int64_t min, int64_t max) {
    if (max == INT64_MAX) return "must be >= " + std::to_string(min);
    return "must be in [" + std::to_string(min) + ", " + std::to_string(max) + "]";
  }

  const Json& json_;
  std::string path_;
  std::vector<std::string> known_;
};

void read_adam(ObjectReader& r, AdamConfig& a) {
  r.real("lr", a.lr, 1e-12, 10.0);
  r.betas("betas", a.betas);
  r.real("weight_decay", a.weight_decay, 0.0, 1.0);
  r.real("clip_grad_norm", a.clip_grad_norm, 0.0, 1e9);
  r.real("clip_grad_value", a.clip_grad_value, 0.0, 1e9);
}

Json adam_to_json(const AdamConfig& a) {
  return Json{{"lr", a.lr},
              {"betas", {a.betas[0], a.betas[1]}},
              {"weight_decay", a.weight_decay},
              {"clip_grad_norm", a.clip_grad_norm},
              {"clip_grad_value", a.clip_grad_value}};
}

void read_data(ObjectReader& r, DataConfig& d) {
  r.string("path", d.path);
  r.choice("split", d.split);
  r.integer("limit", d.limit, 0);
  r.integer("image_size", d.image_size, 4, 1024);
  r.integer("channels", d.channels, 1, 3);
  r.boolean("hflip", d.hflip);
  r.string("background", d.background);
  r.string("cache", d.cache);
  r.string("layout", d.layout);
}

Json data_to_json(const DataConfig& d) {
  return Json{{"path", d.path},
              {"split", spelling(d.split)},
              {"limit", d.limit},
              {"image_size", d.image_size},
              {"channels", d.channels},
              {"hflip", d.hflip},
              {"background", d.background},
              {"cache", d.cache},
              {"layout", d.layout}};
}

void validate_data(const DataConfig& d) {
  if (d.channels != 1 && d.channels != 3)
    throw UsageError("config key 'data.channels' = " + std::to_string(d.channels) + " is not valid; choose 1 or 3");
  if (d.layout != "auto" && d.layout != "nhwc" && d.layout != "nchw")
    throw UsageError("config key 'data.layout' = \"" + abbreviate(d.layout) +
                     "\" is not valid; choose \"auto\", \"nhwc\" or \"nchw\"");
  background_rgb(d);
}

// What nlohmann's DOM parser must not be given: nesting deeper than kMaxConfigDepth (its recursion exhausts the
// stack long before it could report anything) and numbers beyond a double (it throws those without a position).
// Strings are skipped; a number is a token that starts where a JSON value can.
struct JsonHazard {
  size_t byte;  ///< where it starts, 0-based
  std::string what;
};

std::optional<JsonHazard> find_json_hazard(const std::string& text) {
  int depth = 0;
  bool in_string = false;
  char previous = ',';  // the last character outside strings and blanks; a value may follow , : [ {
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '[' || c == '{') {
      if (++depth > kMaxConfigDepth)
        return JsonHazard{i, "[ and { nest deeper than " + std::to_string(kMaxConfigDepth) +
                                 " levels (ganpp's configs use 4)"};
    } else if (c == ']' || c == '}') {
      depth = std::max(depth - 1, 0);
    } else if ((c == '-' || std::isdigit(static_cast<unsigned char>(c))) && std::strchr(",:[{", previous)) {
      size_t end = i;
      while (end < text.size() && text[end] != '\0' && std::strchr("+-.eE0123456789", text[end])) ++end;
      const std::string token = text.substr(i, end - i);
      if (std::isinf(std::strtod(token.c_str(), nullptr)))
        return JsonHazard{i, "the number " + abbreviate(token) +
                                 " is beyond the range of a double (about ±1.8e308); use a value in the key's range"};
      i = end - 1;
    }
    in_string = c == '"';
    if (!std::isspace(static_cast<unsigned char>(c))) previous = c;
  }
  return std::nullopt;
}

// "line L, column C" (1-based) of a 0-based byte offset.
std::string line_column(const std::string& text, size_t byte) {
  size_t line = 1, column = 1;
  for (size_t i = 0; i < byte && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

Json load_json_with_overrides(const std::string& path, const std::vector<std::string>& overrides) {
  Json json = path.empty() ? Json::object() : read_json_file(path);
  if (!json.is_object()) throw UsageError("config file '" + abbreviate(path) + "' must hold a JSON object");
  for (const auto& o : overrides) apply_override(json, o);
  return json;
}

}  // namespace

template <>
const std::vector<std::string>& spellings<DataSplit>() {
  static const std::vector<std::string> kNames = {"train", "test"};
  return kNames;
}
template <>
const std::vector<std::string>& spellings<Upsample>() {
  static const std::vector<std::string> kNames = {"deconv", "nearest", "bilinear"};
  return kNames;
}
template <>
const std::vector<std::string>& spellings<OutputActivation>() {
  static const std::vector<std::string> kNames = {"tanh", "sigmoid"};
  return kNames;
}
template <>
const std::vector<std::string>& spellings<DiscriminatorNorm>() {
  static const std::vector<std::string> kNames = {"auto", "batch", "none"};
  return kNames;
}
template <>
const std::vector<std::string>& spellings<Conditioning>() {
  static const std::vector<std::string> kNames = {"concat", "projection", "ac"};
  return kNames;
}
template <>
const std::vector<std::string>& spellings<LrDecay>() {
  static const std::vector<std::string> kNames = {"none", "linear"};
  return kNames;
}
template <>
const std::vector<std::string>& spellings<Precision>() {
  static const std::vector<std::string> kNames = {"fp32", "bf16"};
  return kNames;
}
template <>
const std::vector<std::string>& spellings<EmaBatchNorm>() {
  static const std::vector<std::string> kNames = {"copy", "recompute"};
  return kNames;
}
template <>
const std::vector<std::string>& spellings<Augment>() {
  static const std::vector<std::string> kNames = {"none", "diffaugment", "ada"};
  return kNames;
}

Config config_from_json(const Json& json) {
  Config c;
  ObjectReader root(json, "");
  root.object("data", [&](ObjectReader& r) { read_data(r, c.data); });
  root.object("model", [&](ObjectReader& r) {
    r.string("arch", c.model.arch);
    r.integer("z_dim", c.model.z_dim, 1, 100000);
    r.boolean("conditional", c.model.conditional);
    r.integer("num_classes", c.model.num_classes, 0, 100000);
    r.object("g", [&](ObjectReader& g) {
      g.integer("ngf", c.model.g.ngf, 1, 4096);
      g.int_list("hidden", c.model.g.hidden, 1);
      g.int_list("mults", c.model.g.mults, 1);
      g.choice("upsample", c.model.g.upsample);
      g.choice("output", c.model.g.output);
      g.boolean("spectral_norm", c.model.g.spectral_norm);
      g.integer("embed_dim", c.model.g.embed_dim, 0, 100000);
    });
    r.object("d", [&](ObjectReader& d) {
      d.integer("ndf", c.model.d.ndf, 1, 4096);
      d.int_list("hidden", c.model.d.hidden, 1);
      d.int_list("mults", c.model.d.mults, 1);
      d.choice("norm", c.model.d.norm);
      d.real("dropout", c.model.d.dropout, 0.0, 1.0, /*max_inclusive=*/false);
      d.boolean("spectral_norm", c.model.d.spectral_norm);
      d.choice("conditioning", c.model.d.conditioning);
    });
  });
  root.object("loss", [&](ObjectReader& r) {
    r.string("kind", c.loss.kind);
    r.integer("n_critic", c.loss.n_critic, 1, 1000);
    r.real("gp_lambda", c.loss.gp_lambda, 0.0, 1e6);
    r.real("label_smoothing", c.loss.label_smoothing, 0.0, 1.0, /*max_inclusive=*/false);
    r.real("clip", c.loss.clip, 1e-8, 100.0);
    r.real("margin", c.loss.margin, 0.0, 1e6);
    r.real("ac_weight", c.loss.ac_weight, 0.0, 1e6);
    r.real("feature_matching", c.loss.feature_matching, 0.0, 1e6);
    r.real("r1_gamma", c.loss.r1_gamma, 0.0, 1e6);
    r.real("r2_gamma", c.loss.r2_gamma, 0.0, 1e6);
    r.integer("reg_every", c.loss.reg_every, 1, 1000);
  });
  root.object("optim", [&](ObjectReader& r) {
    r.object("g", [&](ObjectReader& g) { read_adam(g, c.optim.g); });
    r.object("d", [&](ObjectReader& d) { read_adam(d, c.optim.d); });
    r.choice("lr_decay", c.optim.lr_decay);
  });
  root.object("train", [&](ObjectReader& r) {
    r.integer("steps", c.train.steps, 1);
    r.integer("batch_size", c.train.batch_size, 1, 1 << 20);
    r.unsigned_integer("seed", c.train.seed);
    r.integer("log_every", c.train.log_every, 1);
    r.integer("sample_every", c.train.sample_every, 1);
    r.integer("checkpoint_every", c.train.checkpoint_every, 1);
    r.integer("keep_checkpoints", c.train.keep_checkpoints, 1);
    r.integer("sample_count", c.train.sample_count, 1, 4096);
    r.integer("sample_nrow", c.train.sample_nrow, 1, 4096);
    r.choice("precision", c.train.precision);
    r.boolean("cuda_graph", c.train.cuda_graph);
    r.real("ema", c.train.ema, 0.0, 1.0, /*max_inclusive=*/false);
    r.real("ema_rampup", c.train.ema_rampup, 0.0, 1.0);
    r.choice("ema_bn", c.train.ema_bn);
    r.choice("augment", c.train.augment);
    r.policy("augment_policy", c.train.augment_policy);
    r.real("augment_color", c.train.augment_color, 0.0, 10.0);
    r.real("augment_translation", c.train.augment_translation, 0.0, 0.5);
    r.real("augment_cutout", c.train.augment_cutout, 0.0, 1.0);
    r.real("ada_target", c.train.ada_target, 0.0, 1.0);
    r.integer("ada_interval", c.train.ada_interval, 1, 100000);
    r.real("ada_kimg", c.train.ada_kimg, 1e-3, 1e9);
    r.integer("eval_every", c.train.eval_every, 0);
    r.integer("eval_samples", c.train.eval_samples, 10, 1000000);
    r.string("eval_features", c.train.eval_features, /*allow_empty=*/true);
  });
  root.ignore("run");
  root.finish();
  return c;
}

Config stored_config_from_json(const Json& json) {
  // Keys added after format 3 whose default is not the behaviour of the runs before them.
  static const std::vector<std::pair<std::string, Json>> kLegacyValues = {
      {"data.background", "none"},
      {"train.ema_bn", "copy"},
      {"train.ema_rampup", 0.0},
  };
  Json filled = json;
  for (const auto& [key, value] : kLegacyValues) {
    const auto dot = key.find('.');
    Json& section = filled[key.substr(0, dot)];
    if (section.is_object() && !section.contains(key.substr(dot + 1))) section[key.substr(dot + 1)] = value;
  }
  return config_from_json(filled);
}

Json config_to_json(const Config& c) {
  Json j;
  j["data"] = data_to_json(c.data);
  j["model"] = {{"arch", c.model.arch},
                {"z_dim", c.model.z_dim},
                {"conditional", c.model.conditional},
                {"num_classes", c.model.num_classes},
                {"g",
                 {{"ngf", c.model.g.ngf},
                  {"hidden", c.model.g.hidden},
                  {"mults", c.model.g.mults},
                  {"upsample", spelling(c.model.g.upsample)},
                  {"output", spelling(c.model.g.output)},
                  {"spectral_norm", c.model.g.spectral_norm},
                  {"embed_dim", c.model.g.embed_dim}}},
                {"d",
                 {{"ndf", c.model.d.ndf},
                  {"hidden", c.model.d.hidden},
                  {"mults", c.model.d.mults},
                  {"norm", spelling(c.model.d.norm)},
                  {"dropout", c.model.d.dropout},
                  {"spectral_norm", c.model.d.spectral_norm},
                  {"conditioning", spelling(c.model.d.conditioning)}}}};
  j["loss"] = {{"kind", c.loss.kind},           {"n_critic", c.loss.n_critic},
               {"gp_lambda", c.loss.gp_lambda}, {"label_smoothing", c.loss.label_smoothing},
               {"clip", c.loss.clip},           {"margin", c.loss.margin},
               {"ac_weight", c.loss.ac_weight}, {"feature_matching", c.loss.feature_matching},
               {"r1_gamma", c.loss.r1_gamma},   {"r2_gamma", c.loss.r2_gamma},
               {"reg_every", c.loss.reg_every}};
  j["optim"] = {{"g", adam_to_json(c.optim.g)},
                {"d", adam_to_json(c.optim.d)},
                {"lr_decay", spelling(c.optim.lr_decay)}};
  j["train"] = {{"steps", c.train.steps},
                {"batch_size", c.train.batch_size},
                {"seed", c.train.seed},
                {"log_every", c.train.log_every},
                {"sample_every", c.train.sample_every},
                {"checkpoint_every", c.train.checkpoint_every},
                {"keep_checkpoints", c.train.keep_checkpoints},
                {"sample_count", c.train.sample_count},
                {"sample_nrow", c.train.sample_nrow},
                {"precision", spelling(c.train.precision)},
                {"cuda_graph", c.train.cuda_graph},
                {"ema", c.train.ema},
                {"ema_rampup", c.train.ema_rampup},
                {"ema_bn", spelling(c.train.ema_bn)},
                {"augment", spelling(c.train.augment)},
                {"augment_policy", policy_text(c.train.augment_policy)},
                {"augment_color", c.train.augment_color},
                {"augment_translation", c.train.augment_translation},
                {"augment_cutout", c.train.augment_cutout},
                {"ada_target", c.train.ada_target},
                {"ada_interval", c.train.ada_interval},
                {"ada_kimg", c.train.ada_kimg},
                {"eval_every", c.train.eval_every},
                {"eval_samples", c.train.eval_samples},
                {"eval_features", c.train.eval_features}};
  return j;
}

ClassifierConfig classifier_config_from_json(const Json& json) {
  ClassifierConfig c;
  ObjectReader root(json, "");
  root.object("data", [&](ObjectReader& r) { read_data(r, c.data); });
  root.object("model", [&](ObjectReader& r) {
    r.int_list("widths", c.model.widths, 1);
    r.integer("feature_dim", c.model.feature_dim, 1, 65536);
  });
  root.object("train", [&](ObjectReader& r) {
    r.integer("epochs", c.train.epochs, 1, 10000);
    r.integer("batch_size", c.train.batch_size, 1, 1 << 20);
    r.real("lr", c.train.lr, 1e-12, 10.0);
    r.unsigned_integer("seed", c.train.seed);
    r.real("holdout", c.train.holdout, 0.0, 1.0, /*max_inclusive=*/false);
  });
  root.finish();
  if (c.model.widths.empty() || c.model.widths.size() > 6)
    throw UsageError("config key 'model.widths' must list 1 to 6 conv widths, got " + shown(Json(c.model.widths)));
  if ((c.data.image_size >> c.model.widths.size()) < 1)
    throw UsageError("config key 'model.widths' has " + std::to_string(c.model.widths.size()) +
                     " conv blocks, each halving the resolution, too many for data.image_size = " +
                     std::to_string(c.data.image_size) + "; use fewer blocks");
  validate_data(c.data);
  return c;
}

Json classifier_config_to_json(const ClassifierConfig& c) {
  Json j;
  j["data"] = data_to_json(c.data);
  j["model"] = {{"widths", c.model.widths}, {"feature_dim", c.model.feature_dim}};
  j["train"] = {{"epochs", c.train.epochs},
                {"batch_size", c.train.batch_size},
                {"lr", c.train.lr},
                {"seed", c.train.seed},
                {"holdout", c.train.holdout}};
  return j;
}

ClassifierConfig load_classifier_config(const std::string& path, const std::vector<std::string>& overrides) {
  return classifier_config_from_json(load_json_with_overrides(path, overrides));
}

std::optional<std::array<uint8_t, 3>> background_rgb(const DataConfig& data) {
  const std::string& text = data.background;
  if (text == "none") return std::nullopt;
  if (text == "white") return std::array<uint8_t, 3>{255, 255, 255};
  if (text == "black") return std::array<uint8_t, 3>{0, 0, 0};
  const bool hex = text.size() == 7 && text[0] == '#' &&
                   std::all_of(text.begin() + 1, text.end(), [](unsigned char ch) { return std::isxdigit(ch); });
  if (!hex)
    throw UsageError("config key 'data.background' = \"" + abbreviate(text) +
                     "\" is not a colour; use white, black, #rrggbb or none");
  std::array<uint8_t, 3> rgb{};
  for (size_t i = 0; i < 3; ++i) rgb[i] = static_cast<uint8_t>(std::stoi(text.substr(1 + 2 * i, 2), nullptr, 16));
  return rgb;
}

int64_t conditional_classes(const Config& c) { return c.model.conditional ? c.model.num_classes : 0; }

void validate_fields(const Config& c) {
  validate_data(c.data);
  if (c.model.conditional && c.model.num_classes == 1)
    throw UsageError("config key 'model.num_classes' = 1: a conditional GAN needs at least 2 classes (0 = the "
                     "dataset's number of classes)");
  if (c.train.sample_nrow > c.train.sample_count)
    throw UsageError("config key 'train.sample_nrow' = " + std::to_string(c.train.sample_nrow) +
                     " exceeds train.sample_count = " + std::to_string(c.train.sample_count));
  if (c.train.eval_every > 0 && c.train.eval_features.empty())
    throw UsageError("config key 'train.eval_every' = " + std::to_string(c.train.eval_every) +
                     " needs train.eval_features: train a feature network with 'ganpp classifier train --out "
                     "classifier.pt' and set train.eval_features to that file (or to a TorchScript module)");
}

Json read_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError("cannot open config file '" + abbreviate(path) + "': " + std::strerror(errno));
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  if (const auto hazard = find_json_hazard(text))
    throw UsageError("config file '" + abbreviate(path) + "' cannot be read: " + line_column(text, hazard->byte) +
                     ": " + hazard->what);
  try {
    return Json::parse(text);
  } catch (const Json::parse_error& e) {
    std::string what = e.what();
    const auto colon = what.find(": ");  // nlohmann: "... at line L, column C: <explanation>"
    if (colon != std::string::npos) what = what.substr(colon + 2);
    throw UsageError("config file '" + abbreviate(path) + "' is not valid JSON: " +
                     line_column(text, e.byte > 0 ? e.byte - 1 : 0) + ": " + abbreviate(what));
  }
}

std::string override_key(const std::string& assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw UsageError("--set '" + abbreviate(assignment) +
                     "' must have the form KEY=VALUE, e.g. --set loss.gp_lambda=5");
  return assignment.substr(0, eq);
}

void apply_override(Json& json, const std::string& assignment) {
  const std::string key = override_key(assignment);
  const std::string text = assignment.substr(key.size() + 1);
  if (const auto hazard = find_json_hazard(text)) throw UsageError("--set '" + abbreviate(key) + "': " + hazard->what);
  Json value;
  try {
    value = Json::parse(text);
  } catch (const Json::parse_error&) {
    value = text;  // not JSON: a plain string such as a path or a name
  }
  Json* node = &json;
  std::string done;
  size_t start = 0;
  while (true) {
    const auto dot = key.find('.', start);
    const std::string part = key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (part.empty())
      throw UsageError("--set '" + abbreviate(assignment) + "': empty component in key '" + abbreviate(key) + "'");
    if (!node->is_object())
      throw UsageError("--set '" + abbreviate(assignment) + "': '" + abbreviate(done) + "' is not a section");
    done += (done.empty() ? "" : ".") + part;
    if (dot == std::string::npos) {
      (*node)[part] = value;
      return;
    }
    if (!node->contains(part)) (*node)[part] = Json::object();
    node = &(*node)[part];
    start = dot + 1;
  }
}

const std::vector<std::string>& resumable_keys() {
  // Run length, cadence and placement: what changes how and where a run goes on, not what it computes.
  static const std::vector<std::string> kKeys = {"train.steps",        "train.log_every",
                                                 "train.sample_every", "train.checkpoint_every",
                                                 "train.eval_every",   "train.keep_checkpoints",
                                                 "train.cuda_graph",   "data.path",
                                                 "data.cache"};
  return kKeys;
}

bool is_resumable_key(const std::string& key) {
  const auto& keys = resumable_keys();
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

Config load_config(const std::string& path, const std::vector<std::string>& overrides) {
  Config config = config_from_json(load_json_with_overrides(path, overrides));
  validate_fields(config);
  return config;
}

}  // namespace ganpp
