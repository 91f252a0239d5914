package dataset

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Folder is an image data set in ImageNet's layout, as torchvision's
// ImageFolder reads it: dir/<class>/**/*.{jpg,jpeg,png} (any case), classes
// numbered in sorted order of their folder names, files in sorted order of
// folder then name. Folders whose names start with "." are skipped
// (torchvision would count ".ipynb_checkpoints" as a class).
type Folder struct {
	dir      string
	dirs     []string // class folder names (e.g. WordNet ids)
	classes  []string // display names
	files    []string // relative to dir
	labels   []int32
	channels int
}

// FolderOptions are the optional parts of OpenFolder.
type FolderOptions struct {
	// LabelsFile maps folder names to display names, one "wnid name" per line
	// (ImageNet's LOC_synset_mapping.txt, Caffe's synset_words.txt). Empty:
	// root/LOC_synset_mapping.txt or root/synset_words.txt if present; folders
	// the file does not list keep their folder name.
	LabelsFile string
	Channels   int      // 3 (default; gray images are repeated) or 1 (colour images converted to luma)
	Classes    []string // display names in label order, overriding the labels file
}

// ImageExts are the file extensions (lower case) a Folder reads.
var ImageExts = []string{".jpg", ".jpeg", ".png"}

// OpenFolder lists root/split (split may be empty to use root itself).
func OpenFolder(root, split string, opt FolderOptions) (*Folder, error) {
	dir := filepath.Join(root, split)
	ch := opt.Channels
	if ch == 0 {
		ch = 3
	}
	if ch != 1 && ch != 3 {
		return nil, fmt.Errorf("imagefolder %s: channels %d, want 1 or 3", dir, ch)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("imagefolder: %w", err)
	}
	f := &Folder{dir: dir, channels: ch}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		st, err := os.Stat(filepath.Join(dir, e.Name())) // follows symlinks, like os.scandir's is_dir
		if err == nil && st.IsDir() {
			if e.Name() == "lost+found" { // torchvision would make it a class, silently
				return nil, fmt.Errorf("imagefolder: %s is the file system's lost+found, not a class; move it out of the split (or point data.root one level down)", filepath.Join(dir, e.Name()))
			}
			f.dirs = append(f.dirs, e.Name())
		}
	}
	if len(f.dirs) == 0 {
		return nil, fmt.Errorf("imagefolder: no class folders in %s", dir)
	}
	sort.Strings(f.dirs) // ReadDir sorts already; say it, as labels depend on it
	for label, d := range f.dirs {
		files, err := listImages(dir, d)
		if err != nil {
			return nil, fmt.Errorf("imagefolder: %w", err)
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("imagefolder: class folder %s has no %s files", filepath.Join(dir, d), strings.Join(ImageExts, "/"))
		}
		f.files = append(f.files, files...)
		for range files {
			f.labels = append(f.labels, int32(label))
		}
	}
	f.classes, err = folderClassNames(root, f.dirs, opt)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// listImages returns the image files under dir/class, relative to dir, in
// torchvision's order: folders sorted by path, then files sorted by name.
func listImages(dir, class string) ([]string, error) {
	// Resolve a symlinked class folder (subsets are often built that way);
	// WalkDir would not enter it. Links further down are not followed.
	base, err := filepath.EvalSymlinks(filepath.Join(dir, class))
	if err != nil {
		return nil, err
	}
	groups := map[string][]string{}
	err = filepath.WalkDir(base, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			if p != base && strings.HasPrefix(e.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if !isImageName(e.Name()) {
			return nil
		}
		rel, err := filepath.Rel(base, p)
		if err != nil {
			return err
		}
		rel = filepath.Join(class, rel)
		groups[filepath.Dir(rel)] = append(groups[filepath.Dir(rel)], rel)
		return nil
	})
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		sort.Strings(groups[k])
		out = append(out, groups[k]...)
	}
	return out, nil
}

func isImageName(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	for _, e := range ImageExts {
		if ext == e {
			return true
		}
	}
	return false
}

func folderClassNames(root string, dirs []string, opt FolderOptions) ([]string, error) {
	if len(opt.Classes) > 0 {
		if len(opt.Classes) != len(dirs) {
			return nil, fmt.Errorf("imagefolder: %d class names given for %d class folders", len(opt.Classes), len(dirs))
		}
		return opt.Classes, nil
	}
	path := opt.LabelsFile
	if path == "" {
		for _, n := range []string{"LOC_synset_mapping.txt", "synset_words.txt"} {
			if _, err := os.Stat(filepath.Join(root, n)); err == nil {
				path = filepath.Join(root, n)
				break
			}
		}
	}
	names := append([]string(nil), dirs...)
	if path == "" {
		return names, nil
	}
	m, err := ReadLabelsFile(path)
	if err != nil {
		return nil, err
	}
	for i, d := range dirs {
		if n, ok := m[d]; ok {
			names[i] = n
		}
	}
	return names, nil
}

// ReadLabelsFile reads "id name..." lines (e.g. "n01440764 tench, Tinca tinca")
// into a map from id to name; an id alone names itself.
func ReadLabelsFile(path string) (map[string]string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("labels file: %w", err)
	}
	defer fh.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(fh)
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		id, name, _ := strings.Cut(s, " ")
		if _, dup := m[id]; dup {
			return nil, fmt.Errorf("labels file %s:%d: %s listed twice", path, line, id)
		}
		name = strings.TrimSpace(name)
		if name == "" {
			name = id
		}
		m[id] = name
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("labels file %s: %w", path, err)
	}
	if len(m) == 0 {
		return nil, errors.New("labels file " + path + " is empty")
	}
	return m, nil
}

func (f *Folder) Len() int          { return len(f.files) }
func (f *Folder) Classes() []string { return f.classes }
func (f *Folder) Channels() int     { return f.channels }
func (f *Folder) Name(i int) string { return filepath.Join(f.dir, f.files[i]) }

// Dirs are the class folder names in label order (WordNet ids for ImageNet).
func (f *Folder) Dirs() []string { return f.dirs }

// Load decodes file i and converts it to the folder's channel count.
func (f *Folder) Load(i int) (Image, int32, error) {
	if i < 0 || i >= len(f.files) {
		return Image{}, 0, fmt.Errorf("imagefolder %s: index %d out of range [0,%d)", f.dir, i, len(f.files))
	}
	m, err := DecodeFile(f.Name(i))
	if err != nil {
		return Image{}, 0, err
	}
	m, err = ToChannels(m, f.channels)
	if err != nil {
		return Image{}, 0, fmt.Errorf("%s: %w", f.Name(i), err)
	}
	return m, f.labels[i], nil
}
