// Result<T>: the internal error type of the kernel. A Result holds either a
// value or a positive Linux errno. Syscall handlers convert it to the
// "value or -errno" convention at the boundary.
#pragma once

#include <cerrno>
#include <cstdint>
#include <utility>
#include <variant>

namespace moat {

// Errno wraps a positive Linux error number so that a Result can be built
// from it without ambiguity with an integer value.
struct Errno {
  int value;
};

inline Errno Err(int e) { return Errno{e}; }

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Errno e) : v_(e) {}

  bool ok() const { return v_.index() == 0; }
  int error() const { return std::get<1>(v_).value; }
  T& value() & { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const T& value() const& { return std::get<0>(v_); }
  T* operator->() { return &value(); }
  T& operator*() { return value(); }

 private:
  std::variant<T, Errno> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() : error_(0) {}
  Result(Errno e) : error_(e.value) {}
  bool ok() const { return error_ == 0; }
  int error() const { return error_; }

 private:
  int error_;
};

using Status = Result<void>;

inline Status Ok() { return Status(); }

}  // namespace moat

// TRY evaluates a Result expression. On error it returns the error from the
// enclosing function, which must return a Result; otherwise the expression
// yields the value.
#define TRY(expr)                                \
  ({                                             \
    auto _moat_r = (expr);                       \
    if (!_moat_r.ok()) return ::moat::Err(_moat_r.error()); \
    std::move(_moat_r).value();                  \
  })

#define TRY_STATUS(expr)                         \
  do {                                           \
    auto _moat_s = (expr);                       \
    if (!_moat_s.ok()) return ::moat::Err(_moat_s.error()); \
  } while (0)
