#pragma once
// One field list per struct, used both ways (result.json, matrix.json). A
// struct's list is a specialization of Fields<T> whose
// `template <class Io, class T> static void each(Io& io, T& value)` names
// every key in output order; JsonWriter turns it into a JSON object and
// JsonReader assigns the members back from one, so a key is spelled once for
// writing and reading. `T` is const when writing.
//
//   io(key, member)              written; read when present (absent: the default stays)
//   io.required(key, member)     as above; absent is an error when reading
//   io(key, member, codec)       a member stored in another form: codec.write(member)
//                                gives the JSON, codec.read(json, member, path) reads it
//   io.derived(key, compute)     written only: a figure computed from the others (rps, ...)
//   io.object(key, fields)       a nested object whose keys `fields(sub_io)` lists
//   io.optional_object(key, present, fields)
//                                written when `present`; reading sets `present` to
//                                whether the key is there
//
// Members that are themselves described, or vectors of described structs,
// nest as objects and arrays of objects. Reading errors name the field's
// path ("missing summary.requests", "timeline[].second has the wrong type");
// the caller prefixes the file kind ("result: ").

#include <fmt/format.h>

#include <boost/json.hpp>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/result.h"

namespace servelab::report {

template <class T>
struct Fields;  // specialized per struct (see above)

template <class T>
concept Described = requires {
  sizeof(Fields<std::remove_const_t<T>>);
};

template <class T>
struct IsVector : std::false_type {};
template <class T, class A>
struct IsVector<std::vector<T, A>> : std::true_type {};

template <class T>
concept DescribedVector =
    IsVector<std::remove_const_t<T>>::value && Described<typename T::value_type>;

class JsonWriter {
 public:
  template <class T>
  void operator()(std::string_view key, const T& v) {
    out_[key] = to_json(v);
  }
  template <class T, class Codec>
  void operator()(std::string_view key, const T& v, const Codec& codec) {
    out_[key] = codec.write(v);
  }
  template <class T, class... Codec>
  void required(std::string_view key, const T& v, const Codec&... codec) {
    (*this)(key, v, codec...);
  }
  template <class F>
  void derived(std::string_view key, F&& compute) {
    out_[key] = to_json(compute());
  }
  template <class F>
  void object(std::string_view key, F&& fields) {
    JsonWriter sub;
    fields(sub);
    out_[key] = std::move(sub.out_);
  }
  template <class F>
  void required_object(std::string_view key, F&& fields) {
    object(key, std::forward<F>(fields));
  }
  template <class F>
  void optional_object(std::string_view key, bool present, F&& fields) {
    if (present) object(key, std::forward<F>(fields));
  }

  template <class T>
  static boost::json::value to_json(const T& v) {
    if constexpr (Described<T>) {
      JsonWriter w;
      Fields<T>::each(w, v);
      return std::move(w.out_);
    } else if constexpr (DescribedVector<T>) {
      boost::json::array a;
      for (const auto& e : v) a.push_back(to_json(e));
      return a;
    } else if constexpr (std::is_constructible_v<boost::json::value, const T&>) {
      return boost::json::value(v);
    } else {
      return boost::json::value_from(v);
    }
  }

 private:
  boost::json::object out_;
};

class JsonReader {
 public:
  explicit JsonReader(const boost::json::object& in, std::string path = "")
      : in_(in), path_(std::move(path)) {}

  template <class T, class... Codec>
  void operator()(std::string_view key, T& v, const Codec&... codec) {
    read(key, false, v, codec...);
  }
  template <class T, class... Codec>
  void required(std::string_view key, T& v, const Codec&... codec) {
    read(key, true, v, codec...);
  }
  template <class F>
  void derived(std::string_view, F&&) {}
  template <class F>
  void object(std::string_view key, F&& fields) {
    nested(key, false, fields);
  }
  template <class F>
  void required_object(std::string_view key, F&& fields) {
    nested(key, true, fields);
  }
  template <class F>
  void optional_object(std::string_view key, bool& present, F&& fields) {
    present = status_ && in_.if_contains(key) != nullptr;
    if (present) nested(key, true, fields);
  }

  const Status& status() const { return status_; }

  // Reads `v` (described, a vector of described, or anything
  // boost::json::try_value_to reads) from `jv`; errors name `path`.
  template <class T>
  static Status read_value(const boost::json::value& jv, T& v, const std::string& path) {
    if constexpr (Described<T>) {
      if (!jv.is_object()) return make_error(path + " is not an object");
      JsonReader sub(jv.as_object(), path);
      Fields<T>::each(sub, v);
      return sub.status_;
    } else if constexpr (DescribedVector<T>) {
      if (!jv.is_array()) return make_error(path + " is not an array");
      v.clear();
      for (const auto& e : jv.as_array()) {
        if (!e.is_object()) return make_error(path + " entry is not an object");
        typename T::value_type x;
        if (auto st = read_value(e, x, path + "[]"); !st) return st;
        v.push_back(std::move(x));
      }
      return Ok{};
    } else {
      auto r = boost::json::try_value_to<T>(jv);
      if (!r) return make_error(path + " has the wrong type");
      v = std::move(*r);
      return Ok{};
    }
  }

 private:
  std::string path_of(std::string_view key) const {
    return path_.empty() ? std::string(key) : fmt::format("{}.{}", path_, key);
  }
  // The value under `key`, or null (absent, or an earlier field failed).
  const boost::json::value* find(std::string_view key, bool required) {
    if (!status_) return nullptr;
    const boost::json::value* v = in_.if_contains(key);
    if (v == nullptr && required) status_ = make_error("missing " + path_of(key));
    return v;
  }
  template <class T, class... Codec>
  void read(std::string_view key, bool required, T& v, const Codec&... codec) {
    const boost::json::value* jv = find(key, required);
    if (jv == nullptr) return;
    if constexpr (sizeof...(Codec) == 0)
      status_ = read_value(*jv, v, path_of(key));
    else
      status_ = (codec.read(*jv, v, path_of(key)), ...);
  }
  template <class F>
  void nested(std::string_view key, bool required, F& fields) {
    const boost::json::value* jv = find(key, required);
    if (jv == nullptr) return;
    if (!jv->is_object()) {
      status_ = make_error(path_of(key) + " is not an object");
      return;
    }
    JsonReader sub(jv->as_object(), path_of(key));
    fields(sub);
    status_ = sub.status_;
  }

  const boost::json::object& in_;
  std::string path_;
  Status status_ = Ok{};
};

// A document's format version: written as `expected`; reading any other
// value is an error.
struct FormatVersion {
  int expected;
  boost::json::value write(int) const { return expected; }
  Status read(const boost::json::value& jv, const int&, const std::string& path) const {
    auto v = boost::json::try_value_to<int>(jv);
    if (!v) return make_error(path + " has the wrong type");
    if (*v != expected)
      return make_error(fmt::format("format version {} (this servelab reads {})", *v, expected));
    return Ok{};
  }
};

}  // namespace servelab::report
