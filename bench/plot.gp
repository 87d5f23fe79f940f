# The plot of `make bench`, from the data files bench/py_bench.erl writes:
# left, each figure as a multiple of its floor (bars coloured by target:
# green met, red missed, grey none; dots: the target as a multiple of the
# floor); right, calls per second against concurrent callers.
#
#   gnuplot -e "dir='bench/out'; info='...'" bench/plot.gp
if (!exists("dir")) dir = 'bench/out'
if (!exists("info")) info = ''

set terminal pngcairo size 1500,650 font "sans,10" noenhanced
set output dir.'/performance.png'
set multiplot layout 1,2 title "erlang_python against a bare echo port\n".info font "sans,11"

set title "Figure / floor; dots: the target. Green met, red missed, grey no target\n(lower is better, except throughput)"
set logscale y
set yrange [0.1:*]
set ylabel "ratio to floor"
set xtics rotate by -40 left nomirror
set grid ytics
set style fill solid 0.85 border -1
set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead dashtype 2 lc rgb "black"
plot dir.'/ratios.dat' using 0:2:(0.7):4:xtic(1) with boxes lc rgb variable notitle, \
     '' using 0:3 with points pt 7 ps 1.4 lc rgb "black" notitle

unset arrow 1
unset yrange
set title "Throughput on the default pool"
set logscale xy
set xlabel "concurrent callers"
set ylabel "round trips per second"
set xtics norotate (1, 8, 64, 256)
set key inside bottom right
plot dir.'/throughput.dat' using 1:2 with linespoints pt 7 lw 2 title "py:call(math, sqrt, [16])", \
     '' using 1:3 with linespoints pt 5 lw 2 title "echo port, same request bytes"

unset multiplot
