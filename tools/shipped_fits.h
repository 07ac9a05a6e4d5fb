// File: tools/shipped_fits.h
// The inputs each shipped calibration profile is fitted from (data/calibration/inputs/
// shipped.json, the same list tools/calibrate_shipped.sh gives `meshplan calibrate`), and the
// refit without one source's kernel-level records that `accuracy --leave-source-out` scores
// that source with: accuracy out of sample (DESIGN.md "Accuracy is measured out of sample").
#ifndef MESHPLAN_TOOLS_SHIPPED_FITS_H_
#define MESHPLAN_TOOLS_SHIPPED_FITS_H_

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "costmodel/calibration.h"

namespace meshplan::tools {

struct ShippedFit {
  std::string name;     // profile name (data/calibration/<name>.json)
  std::string cluster;  // the cluster it is fitted on
  std::vector<std::string> also_for;
  std::vector<std::string> logs, references;  // paths, resolved against the data folder
};

/// The shipped fits; an absent file is an empty list, a malformed one an Error naming it.
std::vector<ShippedFit> ReadShippedFits();

/// Refits a shipped profile, reading its logs once, on the first refit.
class ShippedFitter {
 public:
  explicit ShippedFitter(ShippedFit fit);
  const ShippedFit& fit() const { return fit_; }
  /// The sources (plans::SourceName) whose reference records go into the fit.
  const std::set<std::string>& sources() const { return sources_; }
  /// The profile fitted from every input except source `leave_out`'s reference records ("":
  /// all, which reproduces the shipped profile's fitted values). Cached per source.
  const costmodel::CalibrationProfile& FitWithout(const std::string& leave_out);

 private:
  ShippedFit fit_;
  costmodel::Cluster base_;
  std::vector<costmodel::CalibrationInputs> logs_;  // one per log that could be modelled
  bool logs_read_ = false;
  std::set<std::string> sources_;
  std::map<std::string, costmodel::CalibrationProfile> fitted_;
};

}  // namespace meshplan::tools

#endif  // MESHPLAN_TOOLS_SHIPPED_FITS_H_
