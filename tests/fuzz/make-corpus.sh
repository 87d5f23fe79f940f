#!/usr/bin/env bash
# Writes the seed corpora of the fuzz targets from real terms:
#   corpus/envelope/  request frames, term_to_binary/1 of the requests of
#                     docs/protocol.md (and a few that are refused);
#   corpus/convert/   bodies without the version byte, as pyrun.c decodes
#                     them: bignums, floats, maps, nested lists, pids, refs,
#                     binaries, atoms, strings, ...
# The regress_*.bin files beside them, inputs that once crashed or hung a
# decoder, are written by hand and kept.
# Usage: tests/fuzz/make-corpus.sh (needs erl). The files are committed; run
# again only to change them.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p corpus/envelope corpus/convert
find corpus -name '*.bin' ! -name 'regress_*' -delete
erl -noshell -eval '
Write = fun(Dir, Name, Bin) ->
    ok = file:write_file(filename:join(["corpus", Dir, Name ++ ".bin"]), Bin)
end,
Ref = make_ref(),
Alias = alias(),
Self = self(),
Requests = [
    {"call_pool", {call, Ref, default, math, sqrt, [16], #{}}},
    {"call_context", {call, {Alias, Self}, {context, 3}, <<"os.path">>, <<"join">>,
                      [<<"a">>, "b"], #{sep => <<"/">>}}},
    {"call_ref", {call, Ref, default, {<<"$py_ref">>, 123456789, 7}, upper, [], #{}}},
    {"call_pyref", {call, Ref, default, {'\''$py_ref'\'', 281474976710655, 7}, upper, [], #{}}},
    {"call_kwargs", {call, Ref, default, builtins, sorted, [[3, 1, 2]], #{reverse => true}}},
    {"eval", {eval, Ref, default, <<"x + 1">>, #{x => 41}}},
    {"eval_context", {eval, {py_port_owner, 9}, {context, 0}, <<"[a] * 2">>, #{<<"a">> => 1.5}}},
    {"exec", {exec, Ref, default, <<"import math\nprint(math.pi)\n">>}},
    {"start_pool", {start_pool, {py_port_owner, 1}, default, 4}},
    {"start_pool_big", {start_pool, {py_port_owner, 1}, workers, 1 bsl 40}},
    {"start_pool_mode", {start_pool, {py_port_owner, 1}, cpu, 2, owngil}},
    {"call_ref_in_args", {call, Ref, default, m, f,
                          [#{k => [{<<"x">>, {'\''$py_ref'\'', 281474976710655, 7}}]}], #{}}},
    {"release_owngil", {release, cast, default, 123456789, [1, 2, 3]}},
    {"stop_pool", {stop_pool, {py_port_owner, 2}, default}},
    {"release", {release, cast, default, 1, [1, 2]}},
    {"release_context", {release, Ref, {context, 1}, 281474976710655, lists:seq(1, 20)}},
    {"cancel", {cancel, cast, {Alias, Self}}},
    {"cancel_caller", {cancel_caller, cast, Self}},
    {"stream", {stream, {Alias, Self}, default, builtins, range, [3], #{}}},
    {"stream_eval", {stream_eval, {Alias, Self}, {nested, 2}, <<"iter(x)">>, #{x => [1]}}},
    {"stream_start", {stream_start, {Alias, Self}, default, builtins, range, [3], #{}, 64, Self}},
    {"stream_credit", {stream_credit, {Alias, Self}, 32}},
    {"callback_result", {callback_result, 7, {ok, [1, <<"x">>]}}},
    {"callback_error", {callback_result, 8, {error, {error, <<"badarith">>}}}},
    {"send_credit", {send_credit, flow, 1048832}},
    {"bad_op", {frobnicate, Ref, default}},
    {"bad_arity", {call, Ref, default, math}},
    {"bad_target", {call, Ref, 42, math, sqrt, [16], #{}}},
    {"bad_pool_size", {start_pool, Ref, default, ten}},
    {"bad_pool_mode", {start_pool, Ref, cpu, 2, <<"owngil">>}},
    {"latin1_atoms", {call, Ref, '\''caf\x{e9}'\'', math, sqrt, [16], #{}}}
],
[Write("envelope", N, term_to_binary(T)) || {N, T} <- Requests],
Write("envelope", "latin1_minor1", term_to_binary(element(2, lists:last(Requests)), [{minor_version, 1}])),
Write("envelope", "float_text", term_to_binary({eval, Ref, default, <<"x">>, #{x => 2.5}}, [{minor_version, 0}])),
Terms = [
    {"small_ints", [0, 1, 255, 256, -1, 1 bsl 27, -(1 bsl 27)]},
    {"int64_edges", [1 bsl 63 - 1, -(1 bsl 63), 1 bsl 64, -(1 bsl 64)]},
    {"bignum", 1 bsl 100},
    {"bignum_neg_large", -(1 bsl 2100)},
    {"floats", [3.14, -0.0, 1.0e308, 5.0e-324, -2.5]},
    {"atoms", [true, false, none, nil, undefined, nan, infinity, hello, '\''日本'\'', '\''caf\x{e9}'\'']},
    {"strings", ["hello", "", [1000, 2000], "caf\x{e9}"]},
    {"binaries", [<<>>, <<"utf8 text">>, <<255, 0, 1>>, <<"日本"/utf8>>]},
    {"bytes_tuple", {bytes, <<1, 2, 3>>}},
    {"bitstring", <<1:3>>},
    {"whole_bitstring", {bytes, <<1, 2>>}},
    {"nested_lists", [[1, [2, [3, [4, []]]]], [[]], [a | [b]]]},
    {"improper_list", [1, 2 | 3]},
    {"tuples", {{}, {1}, {a, {b, {c}}}, list_to_tuple(lists:seq(1, 300))}},
    {"map", #{a => 1, <<"b">> => [2], 3 => #{nested => {x}}, {t, 1} => 2.0}},
    {"map_colliding", #{1 => a, 1.0 => b}},
    {"map_unhashable", #{[1] => a}},
    {"kwargs", #{reverse => true, key => <<"len">>, <<"sep">> => <<",">>}},
    {"kwargs_bad_key", #{1 => 2}},
    {"pid", Self},
    {"ref", Ref},
    {"alias_reply_to", {Alias, Self}},
    {"py_ref", {'\''$py_ref'\'', 123456789, 7}},
    {"py_ref_neg", {'\''$py_ref'\'', -1, 1 bsl 70}},
    {"port", hd(erlang:ports())},
    {"fun", fun() -> ok end},
    {"export", fun lists:map/2},
    {"args_mixed", [16, 2.5, <<"s">>, "chars", [], #{}, {1, 2}, Self, Ref, true]},
    {"deep_list", lists:foldl(fun(_, Acc) -> [Acc] end, [], lists:seq(1, 200))},
    {"deep_map", lists:foldl(fun(_, Acc) -> #{k => Acc} end, #{}, lists:seq(1, 100))}
],
Strip = fun(<<131, Rest/binary>>) -> Rest end,
[Write("convert", N, Strip(term_to_binary(T))) || {N, T} <- Terms],
Write("convert", "latin1_atoms_minor1", Strip(term_to_binary(element(2, lists:nth(6, Terms)), [{minor_version, 1}]))),
Write("convert", "float_text_minor0", Strip(term_to_binary([1.5, -0.25, 1.0e300], [{minor_version, 0}]))),
[Write("convert", "request_" ++ N, Strip(term_to_binary(T))) || {N, T} <- Requests],
halt().'
echo "envelope: $(ls corpus/envelope | wc -l) files, convert: $(ls corpus/convert | wc -l) files"
