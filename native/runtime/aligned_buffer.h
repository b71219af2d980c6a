// Owned, 64-byte aligned float storage: one cache line, and one AVX-512 vector,
// so packed panels and workspaces never split a vector load across lines.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <new>

namespace kiln {

constexpr size_t kAlignment = 64;

inline void* alignedAllocate(size_t bytes) {
  if (bytes == 0) bytes = kAlignment;
  const size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  void* memory = std::aligned_alloc(kAlignment, rounded);
  if (memory == nullptr) throw std::bad_alloc();
  return memory;
}

inline void alignedFree(void* memory) { std::free(memory); }

template <typename T>
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t count) { resize(count); }
  ~AlignedBuffer() { alignedFree(data_); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  AlignedBuffer(AlignedBuffer&& other) noexcept : data_(other.data_), size_(other.size_) {
    other.data_ = nullptr;
    other.size_ = 0;
  }
  AlignedBuffer& operator=(AlignedBuffer&& other) noexcept {
    if (this != &other) {
      alignedFree(data_);
      data_ = other.data_;
      size_ = other.size_;
      other.data_ = nullptr;
      other.size_ = 0;
    }
    return *this;
  }

  // Grows only; contents are not preserved. Workspaces call this per call and
  // so allocate once, at their largest size.
  void reserve(size_t count) {
    if (count <= size_) return;
    alignedFree(data_);
    data_ = nullptr;
    size_ = 0;
    data_ = static_cast<T*>(alignedAllocate(count * sizeof(T)));
    size_ = count;
  }
  void resize(size_t count) { reserve(count); }

  T* data() { return data_; }
  const T* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  T* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace kiln
