#pragma once
// Key tables: one row per key a scenario table may hold, saying how the key
// is read from TOML (with its checks) and how result.json's "scenario" object
// echoes it (written, and read back). The parser's list of allowed keys, its
// did-you-mean, its reads and the echo all walk the same rows, so a key is
// declared once. The tables are in scenario_keys.cpp and request_keys.cpp.

#include <fmt/format.h>

#include <array>
#include <boost/json/value.hpp>
#include <boost/json/value_from.hpp>
#include <boost/json/value_to.hpp>
#include <chrono>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "common/duration.h"
#include "common/result.h"
#include "common/toggles.h"
#include "common/toml_reader.h"
#include "scenario/scenario.h"
#include "scenario/scenario_parser.h"  // to_string(RequestKind)

namespace servelab::scenario {

// Whether a number or duration may be 0 (it must never be negative).
enum class Zero : bool { refused, allowed };

template <class S>
struct Key {
  using Read = bool (*)(TableReader& r, std::string_view name, S& s);
  using Check = void (*)(TableReader& r, std::string_view name, S& s);
  using Write = void (*)(const S& s, std::string_view name, boost::json::object& out);
  using Load = Status (*)(const boost::json::value& v, const std::string& where, S& s);

  std::string_view name = {};  // the key in TOML and in the echo
  // TOML: the key may appear in the table (it is one of the "valid keys").
  bool in_toml = true;
  // TOML: reads the value at `name` into `s`, reporting what is wrong; true
  // when it stored a value. Null for a key read by its section's rules
  // (its meaning depends on other keys) or not in TOML.
  Read read = nullptr;
  // After `read` stored a value: checks of that value, which may look at
  // keys above it in the table (read before it). Null: none.
  Check check = nullptr;
  // Non-empty: the key is required (in TOML and in the echo), and this says
  // what it expects, for the error.
  std::string_view required = {};
  // Echo: writes the value into `out` under `name`. Null: not echoed.
  Write write = nullptr;
  // Echo read back; `where` names the key in errors ("scenario.load.rate").
  // Null: not read back.
  Load load = nullptr;
  // Echoed only when this holds. Null: always.
  bool (*echoed)(const S& s) = nullptr;
  // [[requests]] only: the request kinds (RequestKindBit mask) that take the key.
  uint8_t kinds = kAllRequests;

  // Modifiers, so that a row reads `text<&S::url>("url").then(check_url)`.
  constexpr Key then(Check f) const {
    return with([&](Key& k) { k.check = f; });
  }
  constexpr Key require(std::string_view what) const {
    return with([&](Key& k) { k.required = what; });
  }
  constexpr Key echo_if(bool (*f)(const S&)) const {
    return with([&](Key& k) { k.echoed = f; });
  }
  constexpr Key for_kinds(uint8_t mask) const {
    return with([&](Key& k) { k.kinds = mask; });
  }
  // Read by the section's rules rather than by a reader of its own.
  constexpr Key by_rules() const {
    return with([](Key& k) { k.read = nullptr; });
  }
  // In TOML only: the echo leaves it out.
  constexpr Key not_echoed() const {
    return with([](Key& k) {
      k.write = nullptr;
      k.load = nullptr;
    });
  }
  // Echoed by these instead of the member's own value.
  constexpr Key echo_with(Write w, Load l) const {
    return with([&](Key& k) {
      k.write = w;
      k.load = l;
    });
  }
  // In the echo only (e.g. "source", which says where the TOML came from).
  constexpr Key echo_only() const {
    return with([](Key& k) {
      k.in_toml = false;
      k.read = nullptr;
    });
  }

 private:
  template <class F>
  constexpr Key with(F f) const {
    Key k = *this;
    f(k);
    return k;
  }
};

// ---------------------------------------------------------------------------
// Walking a table (TOML and echo). `kind_bit(s)` says which request kind `s`
// is; rows whose `kinds` exclude it are not read (a TOML key of another kind
// is an error) nor echoed.

constexpr uint8_t kind_bit(RequestKind kind) {
  return static_cast<uint8_t>(1U << static_cast<unsigned>(kind));
}
constexpr uint8_t kind_bit(const RequestSpec& r) { return kind_bit(r.kind); }
constexpr uint8_t kind_bit(const auto& /*not a request*/) { return kAllRequests; }

// "\"http\" or \"generate\"": the kinds of a mask, for errors.
std::string kinds_text(uint8_t mask);
// "result: <where> has the wrong type"
Error wrong_type(std::string_view where);

template <class S>
std::vector<std::string_view> toml_names(std::span<const Key<S>> keys) {
  std::vector<std::string_view> names;
  for (const Key<S>& k : keys)
    if (k.in_toml) names.push_back(k.name);
  return names;
}

// Reads one row: a missing required key is reported, a present one read and checked.
template <class S>
void read_key(TableReader& r, const Key<S>& k, S& s) {
  if (!k.in_toml) return;
  const toml::node* node = r.find(k.name);
  if ((k.kinds & kind_bit(s)) == 0) {
    if (node != nullptr) {
      if constexpr (std::is_same_v<S, RequestSpec>) {
        r.error(*node, k.name,
                fmt::format("only applies to kind = {}; this request has kind = \"{}\"",
                            kinds_text(k.kinds), to_string(s.kind)));
      }
    }
    return;
  }
  if (node == nullptr) {
    if (!k.required.empty()) r.missing(k.name, k.required);
    return;
  }
  if (k.read != nullptr && k.read(r, k.name, s) && k.check != nullptr) k.check(r, k.name, s);
}

template <class S>
void read_keys(TableReader& r, std::span<const Key<S>> keys, S& s) {
  for (const Key<S>& k : keys) read_key(r, k, s);
}

template <class S>
void write_keys(std::span<const Key<S>> keys, const S& s, boost::json::object& out) {
  for (const Key<S>& k : keys) {
    if (k.write != nullptr && (k.kinds & kind_bit(s)) != 0 &&
        (k.echoed == nullptr || k.echoed(s))) {
      k.write(s, k.name, out);
    }
  }
}

// Absent keys keep their defaults (results written before a key existed).
template <class S>
Status load_keys(std::span<const Key<S>> keys, const boost::json::object& in,
                 std::string_view where, S& s) {
  for (const Key<S>& k : keys) {
    if (k.load == nullptr || (k.kinds & kind_bit(s)) == 0) continue;
    const std::string path = fmt::format("{}.{}", where, k.name);
    const boost::json::value* v = in.if_contains(k.name);
    if (v == nullptr) {
      if (!k.required.empty()) return make_error(fmt::format("result: missing {}", path));
      continue;
    }
    if (Status st = k.load(*v, path, s); !st) return st;
  }
  return Ok{};
}

// ---------------------------------------------------------------------------
// Echo codecs by member type: each type's natural JSON, durations as "1m30s".

template <class T>
boost::json::value to_echo(const T& v) {
  if constexpr (std::is_same_v<T, std::chrono::microseconds>) {
    return boost::json::value(format_duration(v));
  } else {
    return boost::json::value_from(v);
  }
}

template <class T>
Status from_echo(const boost::json::value& v, const std::string& where, T& out) {
  if constexpr (std::is_same_v<T, std::chrono::microseconds>) {
    const boost::json::string* text = v.if_string();
    if (text == nullptr) return wrong_type(where);
    Result<std::chrono::microseconds> d = parse_duration(*text);
    if (!d) return make_error(fmt::format("result: {}: {}", where, d.error().message));
    out = *d;
  } else {
    auto value = boost::json::try_value_to<T>(v);
    if (!value) return wrong_type(where);
    out = std::move(*value);
  }
  return Ok{};
}

namespace detail {
template <class C, class T>
C owner_of(T C::*);
template <class C, class T>
T type_of(T C::*);
}  // namespace detail

// The struct and the type of member pointer M.
template <auto M>
using Owner = decltype(detail::owner_of(M));
template <auto M>
using Member = decltype(detail::type_of(M));

template <auto M>
void write_member(const Owner<M>& s, std::string_view name, boost::json::object& out) {
  out[name] = to_echo(s.*M);
}

template <auto M>
Status load_member(const boost::json::value& v, const std::string& where, Owner<M>& s) {
  return from_echo(v, where, s.*M);
}

// ---------------------------------------------------------------------------
// Row factories. Each takes the member the key fills and returns its row;
// the TOML checks are template arguments so that the readers stay plain
// function pointers.

// A key with its own TOML reader, echoed as the member's value.
template <auto M>
constexpr Key<Owner<M>> member(std::string_view name, typename Key<Owner<M>>::Read read) {
  return Key<Owner<M>>{
      .name = name, .read = read, .write = write_member<M>, .load = load_member<M>};
}

template <auto M>
constexpr Key<Owner<M>> text(std::string_view name) {
  return member<M>(
      name, [](TableReader& r, std::string_view k, Owner<M>& s) { return r.read_string(k, s.*M); });
}

template <auto M>
constexpr Key<Owner<M>> flag(std::string_view name) {
  return member<M>(
      name, [](TableReader& r, std::string_view k, Owner<M>& s) { return r.read_bool(k, s.*M); });
}

// An integer from Min to Max (by default, any value of the member's type).
template <auto M, Member<M> Min = std::numeric_limits<Member<M>>::lowest(),
          Member<M> Max = std::numeric_limits<Member<M>>::max()>
constexpr Key<Owner<M>> integer(std::string_view name) {
  return member<M>(name, [](TableReader& r, std::string_view k, Owner<M>& s) {
    return r.read_integer<Member<M>>(k, s.*M, Min, Max);
  });
}

// An integer or float, >= 0; > 0 unless Z allows 0.
template <auto M, Zero Z>
constexpr Key<Owner<M>> number(std::string_view name) {
  return member<M>(name, [](TableReader& r, std::string_view k, Owner<M>& s) {
    return r.read_number(k, s.*M, Z == Zero::allowed);
  });
}

// A duration string ("500ms"), >= 0; > 0 unless Z allows 0. Echoed as format_duration().
template <auto M, Zero Z>
constexpr Key<Owner<M>> duration(std::string_view name) {
  return member<M>(name, [](TableReader& r, std::string_view k, Owner<M>& s) {
    return r.read_duration(k, s.*M, Z == Zero::allowed);
  });
}

// The name of `value` in `choices` (the first row's name when absent).
template <class E, size_t N>
constexpr std::string_view choice_name(const Choice<E> (&choices)[N], const E& value) {
  for (const Choice<E>& c : choices)
    if (c.value == value) return c.name;
  return choices[0].name;
}

// One of the names in Choices (an array of Choice<E>). An enum member is
// echoed by its name; a string member (the HTTP method) as itself.
template <auto M, const auto& Choices>
constexpr Key<Owner<M>> choice(std::string_view name) {
  using S = Owner<M>;
  using E = std::remove_cvref_t<decltype(Choices[0].value)>;
  Key<S> k{.name = name};
  k.read = [](TableReader& r, std::string_view key, S& s) {
    if constexpr (std::is_same_v<E, Member<M>>) {
      return r.read_choice<E>(key, s.*M, Choices);
    } else {
      E value{};
      if (!r.read_choice<E>(key, value, Choices)) return false;
      s.*M = Member<M>(value);
      return true;
    }
  };
  if constexpr (std::is_same_v<E, Member<M>>) {
    k.write = [](const S& s, std::string_view key, boost::json::object& out) {
      out[key] = choice_name(Choices, s.*M);
    };
    k.load = [](const boost::json::value& v, const std::string& where, S& s) -> Status {
      const boost::json::string* text = v.if_string();
      if (text == nullptr) return wrong_type(where);
      for (const auto& c : Choices) {
        if (*text == c.name) {
          s.*M = c.value;
          return Ok{};
        }
      }
      return make_error(
          fmt::format("result: {}: unknown value \"{}\"", where, std::string_view(*text)));
    };
  } else {
    k.write = write_member<M>;
    k.load = load_member<M>;
  }
  return k;
}

// A sub-table ([load], [pool]) read with its own key table Keys. Rules, when
// given, run once its keys are read: checks across its keys (and, through
// the parent, across tables read before it).
template <auto M, const auto& Keys, void (*Rules)(TableReader& sub, Owner<M>& parent) = nullptr>
constexpr Key<Owner<M>> section(std::string_view name) {
  using S = Owner<M>;
  using T = Member<M>;
  Key<S> k{.name = name};
  k.read = [](TableReader& r, std::string_view key, S& s) {
    const toml::table* table = r.read_table(key);
    if (table == nullptr) return false;
    TableReader sub(*table, r.key_path(key), toml_names(std::span<const Key<T>>(Keys)),
                    r.diagnostics());
    read_keys(sub, std::span<const Key<T>>(Keys), s.*M);
    if constexpr (Rules != nullptr) Rules(sub, s);
    sub.report_unknown_keys();
    return true;
  };
  k.write = [](const S& s, std::string_view key, boost::json::object& out) {
    boost::json::object o;
    write_keys(std::span<const Key<T>>(Keys), s.*M, o);
    out[key] = std::move(o);
  };
  k.load = [](const boost::json::value& v, const std::string& where, S& s) -> Status {
    const boost::json::object* o = v.if_object();
    if (o == nullptr) return wrong_type(where);
    return load_keys(std::span<const Key<T>>(Keys), *o, where, s.*M);
  };
  return k;
}

}  // namespace servelab::scenario
