#if canImport(Glibc)
import Glibc
#endif

/// `quality.svg`: the job's artifacts as points of file size against mean KL divergence (log
/// scale), the Pareto front (no other artifact is both smaller and closer to the source) drawn as a
/// line, llama.cpp's named mixes as squares and quantd's own methods as circles; when the evaluate
/// stage scored tasks, each point's label also gives its accuracy on each task and the change against
/// the source in points. A standalone SVG 1.1 document (no scripts, no external references), so any
/// browser opens it.
public enum QualityChart {
    public static let fileName = "quality.svg"

    public struct Point: Sendable, Equatable {
        public var label: String
        public var bytes: Int
        public var kld: Double
        /// True for llama.cpp's own bytes (a named mix).
        public var isNamedMix: Bool
        /// Task accuracy, when the evaluate stage scored tasks.
        public var tasks: [TaskAccuracy]

        public init(label: String, bytes: Int, kld: Double, isNamedMix: Bool, tasks: [TaskAccuracy] = []) {
            self.label = label
            self.bytes = bytes
            self.kld = kld
            self.isNamedMix = isNamedMix
            self.tasks = tasks
        }
    }

    public struct TaskAccuracy: Sendable, Equatable {
        /// `hellaswag`, `winogrande`, `multiple-choice`.
        public var kind: String
        /// Percent correct.
        public var accuracy: Double
        /// Against the source, in percentage points.
        public var change: Double?

        public init(kind: String, accuracy: Double, change: Double?) {
            self.kind = kind
            self.accuracy = accuracy
            self.change = change
        }

        var text: String {
            var text = "\(kind) \(QualityChart.f(accuracy)) %"
            if let change { text += " (" + (change >= 0 ? "+" : "") + QualityChart.f(change) + ")" }
            return text
        }
    }

    /// The measured artifacts of a job (skipped ones left out).
    public static func points(_ result: JobResult) -> [Point] {
        result.artifacts.indices.compactMap { i in
            guard case .measured(let r)? = result.evaluation?.outcome(artifact: i) else { return nil }
            let a = result.artifacts[i]
            let tasks: [TaskAccuracy] = (result.evaluation?.tasks ?? []).compactMap { task in
                guard case .measured(let t, _)? = task.outcome(artifact: i) else { return nil }
                return TaskAccuracy(kind: task.spec.kind.rawValue, accuracy: t.accuracy * 100, change: task.changePoints(artifact: i))
            }
            return Point(label: a.scheme, bytes: a.bytes, kld: r.kldMean, isNamedMix: a.method == "llama.cpp", tasks: tasks)
        }
    }

    /// Indices of the points on the Pareto front, by increasing size.
    public static func paretoFront(_ points: [Point]) -> [Int] {
        let order = points.indices.sorted { (points[$0].bytes, points[$0].kld) < (points[$1].bytes, points[$1].kld) }
        var front: [Int] = []
        var best = Double.infinity
        for i in order where points[i].kld < best {
            front.append(i)
            best = points[i].kld
        }
        return front
    }

    public static func svg(_ points: [Point], title: String) -> String {
        let width = 720.0, height = 440.0
        let left = 90.0, right = 30.0, top = 50.0, bottom = 60.0
        let plotW = width - left - right, plotH = height - top - bottom
        let floor = 1e-6
        let sizes = points.map { Double($0.bytes) }
        let logs = points.map { log10(max($0.kld, floor)) }
        var minX = sizes.min() ?? 0, maxX = sizes.max() ?? 1
        if maxX - minX < 1 { minX -= 1; maxX += 1 }
        let padX = (maxX - minX) * 0.08
        minX -= padX
        maxX += padX
        var minY = (logs.min() ?? -3).rounded(.down), maxY = (logs.max() ?? 0).rounded(.up)
        if maxY - minY < 1 { maxY = minY + 1 }
        func x(_ v: Double) -> Double { left + (v - minX) / (maxX - minX) * plotW }
        func y(_ logValue: Double) -> Double { top + (maxY - logValue) / (maxY - minY) * plotH }

        var out = """
        <?xml version="1.0" encoding="UTF-8"?>
        <svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))">
        <rect x="0" y="0" width="\(Int(width))" height="\(Int(height))" fill="white"/>
        <text x="\(f(width / 2))" y="26" text-anchor="middle" font-family="sans-serif" font-size="16">\(escape(title))</text>

        """
        // Axes, decade grid lines and size ticks.
        out += "<g stroke=\"#999\" stroke-width=\"1\" fill=\"none\">"
        out += "<line x1=\"\(f(left))\" y1=\"\(f(top + plotH))\" x2=\"\(f(left + plotW))\" y2=\"\(f(top + plotH))\"/>"
        out += "<line x1=\"\(f(left))\" y1=\"\(f(top))\" x2=\"\(f(left))\" y2=\"\(f(top + plotH))\"/></g>\n"
        var decade = minY
        while decade <= maxY {
            out += "<line x1=\"\(f(left))\" y1=\"\(f(y(decade)))\" x2=\"\(f(left + plotW))\" y2=\"\(f(y(decade)))\" stroke=\"#eee\"/>"
            out += "<text x=\"\(f(left - 8))\" y=\"\(f(y(decade) + 4))\" text-anchor=\"end\" font-family=\"sans-serif\" font-size=\"11\">1e\(Int(decade))</text>\n"
            decade += 1
        }
        for k in 0...4 {
            let v = minX + (maxX - minX) * Double(k) / 4
            out += "<text x=\"\(f(x(v)))\" y=\"\(f(top + plotH + 18))\" text-anchor=\"middle\" font-family=\"sans-serif\" font-size=\"11\">\(megabytes(v))</text>\n"
        }
        out += "<text x=\"\(f(left + plotW / 2))\" y=\"\(f(height - 16))\" text-anchor=\"middle\" font-family=\"sans-serif\" font-size=\"12\">file size (MB)</text>\n"
        out += "<text x=\"20\" y=\"\(f(top + plotH / 2))\" text-anchor=\"middle\" font-family=\"sans-serif\" font-size=\"12\" transform=\"rotate(-90 20 \(f(top + plotH / 2)))\">mean KL divergence (nats, log)</text>\n"
        // Pareto front.
        let front = paretoFront(points)
        if front.count > 1 {
            let path = front.map { "\(f(x(sizes[$0]))),\(f(y(logs[$0])))" }.joined(separator: " ")
            out += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"#2a7\" stroke-width=\"2\" stroke-dasharray=\"6 3\"/>\n"
        }
        // Points: squares for llama.cpp's named mixes, circles for the rest.
        for (i, p) in points.enumerated() {
            let px = x(sizes[i]), py = y(logs[i])
            if p.isNamedMix {
                out += "<rect x=\"\(f(px - 5))\" y=\"\(f(py - 5))\" width=\"10\" height=\"10\" fill=\"#d62\"><title>\(escape(p.label)) (llama.cpp): \(p.bytes) bytes, KLD \(p.kld)</title></rect>\n"
            } else {
                out += "<circle cx=\"\(f(px))\" cy=\"\(f(py))\" r=\"6\" fill=\"#27c\"><title>\(escape(p.label)): \(p.bytes) bytes, KLD \(p.kld)</title></circle>\n"
            }
            out += "<text x=\"\(f(px + 9))\" y=\"\(f(py - 8))\" font-family=\"sans-serif\" font-size=\"11\">\(escape(p.label))</text>\n"
            for (k, task) in p.tasks.enumerated() {
                out += "<text x=\"\(f(px + 9))\" y=\"\(f(py + 6 + 12 * Double(k)))\" font-family=\"sans-serif\" font-size=\"10\" fill=\"#555\">\(escape(task.text))</text>\n"
            }
        }
        // Legend.
        let ly = top + 8
        out += "<rect x=\"\(f(left + plotW - 190))\" y=\"\(f(ly))\" width=\"10\" height=\"10\" fill=\"#d62\"/>"
        out += "<text x=\"\(f(left + plotW - 174))\" y=\"\(f(ly + 9))\" font-family=\"sans-serif\" font-size=\"11\">llama.cpp named mix</text>\n"
        out += "<circle cx=\"\(f(left + plotW - 185))\" cy=\"\(f(ly + 25))\" r=\"5\" fill=\"#27c\"/>"
        out += "<text x=\"\(f(left + plotW - 174))\" y=\"\(f(ly + 29))\" font-family=\"sans-serif\" font-size=\"11\">quantd method</text>\n"
        out += "<line x1=\"\(f(left + plotW - 192))\" y1=\"\(f(ly + 44))\" x2=\"\(f(left + plotW - 178))\" y2=\"\(f(ly + 44))\" stroke=\"#2a7\" stroke-width=\"2\" stroke-dasharray=\"6 3\"/>"
        out += "<text x=\"\(f(left + plotW - 174))\" y=\"\(f(ly + 48))\" font-family=\"sans-serif\" font-size=\"11\">Pareto front</text>\n"
        out += "</svg>\n"
        return out
    }

    static func f(_ v: Double) -> String {
        let scaled = (v * 10).rounded() / 10
        return scaled == scaled.rounded() ? "\(Int(scaled))" : "\(scaled)"
    }

    static func megabytes(_ bytes: Double) -> String {
        let mb = bytes / 1_000_000
        return f(mb < 10 ? (mb * 100).rounded() / 100 : mb)
    }

    static func escape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(c)
            }
        }
        return out
    }
}
