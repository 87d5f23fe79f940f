defmodule MixDemo.MixProject do
  use Mix.Project

  # erlang_python is a rebar3 project: mix compiles it with rebar3 (set
  # MIX_REBAR3 to Debian's rebar3; nothing is fetched from Hex), which
  # builds py_port as a dependency build (docs/elixir.md).
  def project do
    [
      app: :mix_demo,
      version: "0.1.0",
      elixir: "~> 1.14",
      deps: [{:erlang_python, path: "../..", manager: :rebar3}]
    ]
  end

  def application do
    [extra_applications: [:logger]]
  end
end
