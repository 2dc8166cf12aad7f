// Helpers for presenting errors.
#include "ganpp/errors.hpp"

#include <algorithm>
#include <new>

namespace ganpp {
namespace {

constexpr size_t kShownHead = 100, kShownTail = 40;

bool is_utf8_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

}  // namespace

std::string first_line(const std::string& message) {
  const auto end = message.find('\n');
  return end == std::string::npos ? message : message.substr(0, end);
}

std::string abbreviate(const std::string& value) {
  if (value.size() <= kShownHead + kShownTail + 20) return value;
  size_t head = kShownHead, tail = value.size() - kShownTail;
  while (head > 0 && is_utf8_continuation(value[head])) --head;
  while (tail < value.size() && is_utf8_continuation(value[tail])) ++tail;
  const auto omitted = std::count_if(value.begin() + head, value.begin() + tail,
                                     [](char c) { return !is_utf8_continuation(c); });
  return value.substr(0, head) + "…(" + std::to_string(omitted) + " characters omitted)…" + value.substr(tail);
}

bool is_out_of_memory(const std::exception& e) {
  if (dynamic_cast<const Error*>(&e)) return false;
  if (dynamic_cast<const std::bad_alloc*>(&e)) return true;
  const std::string message = first_line(e.what());
  for (const char* phrase : {"can't allocate memory", "not enough memory", "out of memory"})
    if (message.find(phrase) != std::string::npos) return true;
  return false;
}

}  // namespace ganpp
