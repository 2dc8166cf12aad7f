// The resumable shuffled stream of training batches (see data.hpp), with a background thread that gathers the
// next batches from host memory while the current step runs.
#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <iostream>
#include <mutex>
#include <thread>

#include "ganpp/batch_shard.hpp"
#include "ganpp/data.hpp"
#include "ganpp/errors.hpp"
#include "ganpp/rng.hpp"

namespace ganpp {

/// One batch being gathered: its rows, and the uint8 images and labels they fill.
struct DataStream::Gathering {
  torch::Tensor rows;    ///< int64 [B], CPU
  torch::Tensor images;  ///< uint8 [B, C, H, W] (pinned on a GPU)
  torch::Tensor labels;  ///< int64 [B] or undefined
  bool done = false;
};

/// The background thread: copies rows of the source tensors into gatherings, in the order they are given. It
/// calls no LibTorch operation (plain memcpy), so it neither draws random numbers nor competes for LibTorch's
/// thread pool.
class DataStream::Gatherer {
 public:
  Gatherer(const torch::Tensor& images, const torch::Tensor& labels)
      : images_(static_cast<const uint8_t*>(images.data_ptr())), image_bytes_(static_cast<size_t>(images[0].numel())),
        labels_(labels.defined() ? labels.data_ptr<int64_t>() : nullptr), thread_([this] { loop(); }) {}

  ~Gatherer() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    changed_.notify_all();
    thread_.join();
  }

  void add(std::shared_ptr<Gathering> g) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back(std::move(g));
    }
    changed_.notify_all();
  }

  void wait(const Gathering& g) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return g.done; });
  }

 private:
  void loop() {
    for (;;) {
      std::shared_ptr<Gathering> g;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        changed_.wait(lock, [&] { return stop_ || !queue_.empty(); });
        if (stop_) return;
        g = queue_.front();
        queue_.pop_front();
      }
      const int64_t* rows = g->rows.data_ptr<int64_t>();
      auto* out = static_cast<uint8_t*>(g->images.data_ptr());
      for (int64_t i = 0; i < g->rows.numel(); ++i)
        std::memcpy(out + i * image_bytes_, images_ + rows[i] * image_bytes_, image_bytes_);
      if (labels_) {
        int64_t* labels = g->labels.data_ptr<int64_t>();
        for (int64_t i = 0; i < g->rows.numel(); ++i) labels[i] = labels_[rows[i]];
      }
      {
        std::lock_guard<std::mutex> lock(mutex_);
        g->done = true;
      }
      changed_.notify_all();
    }
  }

  const uint8_t* images_;
  size_t image_bytes_;
  const int64_t* labels_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::shared_ptr<Gathering>> queue_;
  bool stop_ = false;
  std::thread thread_;  // last: started once everything above is ready
};

DataStream::DataStream(const Dataset& data, int64_t batch_size, uint64_t seed, bool hflip, torch::Device device)
    : data_(data), images_(data.images), labels_(data.labels), batch_size_(batch_size), seed_(seed), hflip_(hflip),
      device_(device) {
  check_batch_fits(data, batch_size);
  const BatchShard& shard = batch_shard();
  if (batch_size % shard.world != 0)
    throw RuntimeError("a batch of " + std::to_string(batch_size) + " does not split over " +
                       std::to_string(shard.world) + " ranks");
  local_batch_ = batch_size / shard.world;
  shard_offset_ = shard.rank * local_batch_;
  trace_rows_ = std::getenv("GANPP_TRACE") != nullptr;
  batches_per_epoch_ = data.size() / batch_size;
  if (device_.is_cuda() && data.images.numel() <= kDeviceDataLimit) {
    images_ = data.images.to(device_);
    if (labels_.defined()) labels_ = labels_.to(device_);
  } else {
    images_ = images_.contiguous();
    if (labels_.defined()) labels_ = labels_.contiguous();
    gatherer_ = std::make_unique<Gatherer>(images_, labels_);
  }
}

DataStream::~DataStream() = default;

const torch::Tensor& DataStream::order(int64_t epoch) {
  for (const auto& [e, perm] : orders_)
    if (e == epoch) return perm;
  if (orders_.size() >= 2) orders_.erase(orders_.begin());  // epochs are used in order: the oldest is done
  orders_.emplace_back(epoch, torch::randperm(data_.size(), make_generator(seed_, static_cast<uint64_t>(epoch)),
                                              torch::kInt64));
  return orders_.back().second;
}

DataPosition DataStream::following(DataPosition pos, int64_t batches_per_epoch) {
  if (pos.position == batches_per_epoch) return {pos.epoch + 1, 1};
  return {pos.epoch, pos.position + 1};
}

torch::Tensor DataStream::rows(DataPosition pos) {
  // `pos` is the position after the batch: its rows are those of batch pos.position - 1 of its epoch.
  return order(pos.epoch).narrow(0, (pos.position - 1) * batch_size_ + shard_offset_, local_batch_);
}

void DataStream::seek(DataPosition pos) {
  if (pos.epoch < 0 || pos.position < 0 || pos.position > batches_per_epoch_)
    throw RuntimeError("data position (epoch " + std::to_string(pos.epoch) + ", batch " + std::to_string(pos.position) +
                       ") does not fit the dataset (" + std::to_string(batches_per_epoch_) +
                       " batches per epoch); was the data or train.batch_size changed?");
  for (const auto& g : ahead_) gatherer_->wait(*g);  // they hold rows of the old position
  ahead_.clear();
  pos_ = pos;
}

void DataStream::gather_ahead() {
  if (ahead_.empty()) ahead_end_ = pos_;
  const auto pinned = torch::TensorOptions().pinned_memory(device_.is_cuda());
  while (ahead_.size() < kPrefetch + 1) {
    ahead_end_ = following(ahead_end_, batches_per_epoch_);
    auto g = std::make_shared<Gathering>();
    g->rows = rows(ahead_end_).contiguous();
    g->images = torch::empty({local_batch_, images_.size(1), images_.size(2), images_.size(3)},
                             pinned.dtype(torch::kUInt8));
    if (labels_.defined()) g->labels = torch::empty({local_batch_}, pinned.dtype(torch::kInt64));
    gatherer_->add(g);
    ahead_.push_back(std::move(g));
  }
}

Batch DataStream::next() {
  torch::Tensor images, labels;
  // Drawn on the CPU whatever the device, so that the flips do not depend on where training runs; for the
  // global batch, of which this rank takes its rows (so that every rank's generator stays in step).
  auto draw_flips = [&] { return shard_rand({local_batch_}) < 0.5; };
  if (trace_rows_) {
    // Test hook: the rows this rank trains on, one line per batch.
    const torch::Tensor r = rows(following(pos_, batches_per_epoch_));
    std::string line = "ganpp-rows rank " + std::to_string(batch_shard().rank) + " batch " +
                       std::to_string(pos_.epoch * batches_per_epoch_ + pos_.position) + ":";
    for (int64_t i = 0; i < r.numel(); ++i) line += " " + std::to_string(r[i].item<int64_t>());
    std::cerr << line + "\n";
  }
  if (gatherer_) {
    gather_ahead();  // from pos_ when nothing is gathered ahead
    const std::shared_ptr<Gathering> g = ahead_.front();
    ahead_.erase(ahead_.begin());
    pos_ = following(pos_, batches_per_epoch_);
    gatherer_->wait(*g);
    gather_ahead();  // the thread gathers the next batches while this one is used
    if (hflip_) {
      // In place on the gathered batch: each flipped image's rows reversed (what torch's flip({3}) gives).
      const torch::Tensor flip = draw_flips();
      const bool* flipped = flip.data_ptr<bool>();
      const int64_t width = g->images.size(3), rows = g->images[0].numel() / width;
      auto* pixels = static_cast<uint8_t*>(g->images.data_ptr());
      for (int64_t i = 0; i < local_batch_; ++i)
        if (flipped[i])
          for (int64_t r = 0; r < rows; ++r)
            std::reverse(pixels + (i * rows + r) * width, pixels + (i * rows + r + 1) * width);
    }
    images = g->images.to(device_, /*non_blocking=*/true);
    if (g->labels.defined()) labels = g->labels.to(device_, /*non_blocking=*/true);
  } else {
    pos_ = following(pos_, batches_per_epoch_);
    const torch::Tensor idx = rows(pos_).to(images_.device(), /*non_blocking=*/true);
    images = images_.index_select(0, idx);
    if (labels_.defined()) labels = labels_.index_select(0, idx);
    if (hflip_) {
      const torch::Tensor flip = draw_flips().view({-1, 1, 1, 1});
      images = torch::where(flip.to(images.device(), /*non_blocking=*/true), images.flip({3}), images);
    }
  }
  Batch batch;
  batch.images = pixels_to_signed_range(images);
  batch.labels = labels;
  return batch;
}

}  // namespace ganpp
