import Config

# Python's None is Elixir's nil, both ways.
config :erlang_python, none_atom: nil
