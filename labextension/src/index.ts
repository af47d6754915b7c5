/**
 * Highlight `%%bqml` (and `%%bigquery`) cells as SQL, in notebooks and consoles.
 *
 * An editor extension, not a change of the cell's mime type: while a document's first line is
 * the magic, it provides JupyterLab's own SQL language (`text/x-sql`, CodeMirror's standard SQL)
 * ahead of the notebook's (IPython), so the highlighting follows the text as it is typed. The
 * cell's mime type stays the kernel's: nothing to restore, no fight with the notebook, which
 * resets every cell's mime type when the kernel's language arrives, and no race between the two
 * languages' asynchronous loads (switching the mime type lost that race on the first cell).
 * The magic line itself is not SQL: it is drawn in one colour, the theme's meta colour (a Python
 * decorator's `@`), instead of as stray SQL operators and an SQL comment (`--params ...`).
 * See docs/behaviour.md#highlighting.
 */
import { LanguageSupport, language } from '@codemirror/language';
import { Compartment, EditorState, Extension, Prec, RangeSetBuilder } from '@codemirror/state';
import { Decoration, DecorationSet, EditorView, ViewPlugin, ViewUpdate } from '@codemirror/view';
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { EditorExtensionRegistry, IEditorExtensionRegistry, IEditorLanguageRegistry } from '@jupyterlab/codemirror';

/** The cell magics whose body is BigQuery SQL, as IPython reads them: the name, then a space or the end. */
const MAGIC = /^%%(bqml|bigquery)(\s|$)/;
const SQL_MIME = 'text/x-sql';
const MAGIC_LINE_CLASS = 'cm-bqml-magic';

/** Whether a cell's text (or its first line) starts with the magic. */
function startsWithMagic(text: string): boolean {
  return MAGIC.test(text);
}

/** The magic line's decoration, where there is one. */
function magicLine(view: EditorView): DecorationSet {
  const builder = new RangeSetBuilder<Decoration>();
  if (startsWithMagic(view.state.doc.line(1).text)) {
    builder.add(0, 0, Decoration.line({ class: MAGIC_LINE_CLASS }));
  }
  return builder.finish();
}

/** The magic line in the editor's meta colour, whatever the language made of its tokens. */
const magicLineStyle: Extension = [
  ViewPlugin.define(
    view => ({
      decorations: magicLine(view),
      update(update: ViewUpdate) {
        if (update.docChanged) {
          this.decorations = magicLine(update.view);
        }
      }
    }),
    { decorations: plugin => plugin.decorations }
  ),
  EditorView.baseTheme({
    [`.${MAGIC_LINE_CLASS}, .${MAGIC_LINE_CLASS} *`]: {
      color: 'var(--jp-mirror-editor-meta-color)',
      fontWeight: 'normal',
      fontStyle: 'normal'
    }
  })
];

/**
 * SQL while the document starts with the magic. The language facet takes its first value, so the
 * highest precedence wins over the kernel's language. It sits in a compartment, filled only while
 * the magic is there: a provider of the facet, even an empty one, would give an editor with no
 * language at all (JupyterLab's metadata editor) a language field with no parser.
 */
function sqlWhileMagic(sql: LanguageSupport, initialSource: string): Extension {
  const sqlLanguage = Prec.highest(language.of(sql.language));
  const none: Extension = [];
  const compartment = new Compartment();
  const contentFor = (text: string): Extension => (startsWithMagic(text) ? sqlLanguage : none);
  return [
    compartment.of(contentFor(initialSource)),
    EditorState.transactionExtender.of(tr => {
      if (!tr.docChanged) {
        return null;
      }
      const wanted = contentFor(tr.newDoc.line(1).text);
      return compartment.get(tr.startState) === wanted ? null : { effects: compartment.reconfigure(wanted) };
    })
  ];
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'bqml-magic:highlighting',
  description: 'Highlights %%bqml cells as SQL.',
  autoStart: true,
  requires: [IEditorExtensionRegistry, IEditorLanguageRegistry],
  // Asynchronous (SQL is loaded first): JupyterLab opens no document before every plugin is active.
  activate: async (_: JupyterFrontEnd, extensions: IEditorExtensionRegistry, languages: IEditorLanguageRegistry) => {
    const sql = (await languages.getLanguage(SQL_MIME))?.support;
    if (!sql) {
      console.warn(`bqml-magic: JupyterLab has no ${SQL_MIME} language; %%bqml cells are not highlighted.`);
      return;
    }
    extensions.addExtension({
      name: 'bqml-magic:sql-cells',
      factory: ({ model }) =>
        EditorExtensionRegistry.createImmutableExtension([
          sqlWhileMagic(sql, model.sharedModel.getSource()),
          magicLineStyle
        ])
    });
  }
};

export default plugin;
