package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"time"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// series is one run's curve: tokens Ready over time.
type series struct {
	name  string
	color color.RGBA
	ready []time.Duration // when each token became Ready, in order
}

var (
	operatorColor = color.RGBA{0x1f, 0x5f, 0xbf, 0xff}
	baselineColor = color.RGBA{0xd9, 0x6c, 0x00, 0xff}
	floorColor    = color.RGBA{0x2e, 0x8b, 0x57, 0xff}
	axisColor     = color.RGBA{0x33, 0x33, 0x33, 0xff}
	gridColor     = color.RGBA{0xe4, 0xe4, 0xe4, 0xff}
)

// chart draws tokens Ready over time for every run: the whole of the
// longest run above, and the operator's span below, so that a run many times
// shorter than the other still shows its shape. A dashed line marks the floor.
func chart(path string, total int, floor time.Duration, runs []series) error {
	const width, height = 960, 760
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)

	longest, shortest := time.Duration(0), time.Duration(math.MaxInt64)
	for _, s := range runs {
		if n := len(s.ready); n > 0 {
			longest, shortest = max(longest, s.ready[n-1]), min(shortest, s.ready[n-1])
		}
	}
	longest = max(longest, floor, time.Second)
	top := image.Rect(0, 0, width, height/2)
	panel(img, top, "Tokens Ready over time, every run", longest, total, floor, runs)
	if len(runs) > 1 && shortest > 0 && shortest < longest/3 {
		span := max(shortest, floor) * 6 / 5
		panel(img, image.Rect(0, height/2, width, height), "The same, first "+seconds(span)+" s",
			span, total, floor, runs)
	} else {
		img = img.SubImage(top).(*image.RGBA)
	}

	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// panel draws one chart into r: axes with ticks and labels, the floor, every
// run's curve, and a legend.
func panel(img *image.RGBA, r image.Rectangle, title string, xmax time.Duration, ymax int,
	floor time.Duration, runs []series) {
	plot := image.Rect(r.Min.X+80, r.Min.Y+50, r.Max.X-30, r.Max.Y-55)
	text(img, r.Min.X+80, r.Min.Y+18, title, axisColor)

	xs := xmax.Seconds()
	toX := func(sec float64) int { return plot.Min.X + int(math.Round(sec/xs*float64(plot.Dx()))) }
	toY := func(n float64) int { return plot.Max.Y - int(math.Round(n/float64(ymax)*float64(plot.Dy()))) }

	for _, v := range ticks(xs) {
		x := toX(v)
		line(img, x, plot.Min.Y, x, plot.Max.Y, gridColor, 1)
		line(img, x, plot.Max.Y, x, plot.Max.Y+5, axisColor, 1)
		label := trimFloat(v)
		text(img, x-len(label)*7/2, plot.Max.Y+20, label, axisColor)
	}
	for _, v := range ticks(float64(ymax)) {
		y := toY(v)
		line(img, plot.Min.X, y, plot.Max.X, y, gridColor, 1)
		line(img, plot.Min.X-5, y, plot.Min.X, y, axisColor, 1)
		label := trimFloat(v)
		text(img, plot.Min.X-10-len(label)*7, y+4, label, axisColor)
	}
	line(img, plot.Min.X, plot.Min.Y, plot.Min.X, plot.Max.Y, axisColor, 1)
	line(img, plot.Min.X, plot.Max.Y, plot.Max.X, plot.Max.Y, axisColor, 1)
	text(img, plot.Min.X+plot.Dx()/2-75, plot.Max.Y+40, "seconds since the run started", axisColor)
	text(img, r.Min.X+8, plot.Min.Y-16, "tokens Ready", axisColor)

	if floor > 0 && floor <= xmax {
		x := toX(floor.Seconds())
		for y := plot.Min.Y; y < plot.Max.Y; y += 8 {
			line(img, x, y, x, min(y+4, plot.Max.Y), floorColor, 2)
		}
	}

	for _, s := range runs {
		px, py := toX(0), toY(0)
		for i, d := range s.ready {
			if d > xmax {
				// Cut the curve at the panel's edge.
				line(img, px, py, plot.Max.X, py, s.color, 2)
				px = plot.Max.X
				break
			}
			x, y := toX(d.Seconds()), toY(float64(i+1))
			line(img, px, py, x, py, s.color, 2) // the count holds until the next token
			line(img, x, py, x, y, s.color, 2)
			px, py = x, y
		}
		if len(s.ready) > 0 && s.ready[len(s.ready)-1] <= xmax {
			line(img, px, py, plot.Max.X, py, s.color, 1)
		}
	}

	// The legend, right and low in the plot, where a long run's curve is
	// still below it and a short run's has long passed.
	lx, ly := plot.Max.X-300, plot.Max.Y-plot.Dy()/6-18*len(runs)
	box := image.Rect(lx-8, ly-16, plot.Max.X-4, ly+18*len(runs)+8)
	draw.Draw(img, box, image.NewUniform(color.White), image.Point{}, draw.Src)
	for i, s := range runs {
		y := ly + 18*i
		line(img, lx, y-4, lx+24, y-4, s.color, 3)
		text(img, lx+32, y, s.name, axisColor)
	}
	y := ly + 18*len(runs)
	for x := lx; x < lx+24; x += 8 {
		line(img, x, y-4, x+4, y-4, floorColor, 2)
	}
	text(img, lx+32, y, "floor set by latency and limits: "+seconds(floor)+" s", axisColor)
}

// ticks are about five round values from zero to max.
func ticks(maxValue float64) []float64 {
	if maxValue <= 0 {
		return []float64{0}
	}
	raw := maxValue / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var out []float64
	for v := 0.0; v <= maxValue*1.0001; v += step {
		out = append(out, v)
	}
	return out
}

func trimFloat(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

func seconds(d time.Duration) string {
	if d < 10*time.Second {
		return fmt.Sprintf("%.1f", d.Seconds())
	}
	return fmt.Sprintf("%.0f", d.Seconds())
}

// text draws s with its baseline at y.
func text(img *image.RGBA, x, y int, s string, c color.Color) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13,
		Dot: fixed.P(x, y)}
	d.DrawString(s)
}

// line draws a straight line of the given thickness.
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA, thickness int) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e := dx + dy
	for {
		for i := range thickness {
			for j := range thickness {
				img.SetRGBA(x0+i-thickness/2, y0+j-thickness/2, c)
			}
		}
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}
